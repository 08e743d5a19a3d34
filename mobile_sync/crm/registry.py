"""The CRMs CallSync connects to: each one's name, client class (imported
when first used) and the configuration key of its API's base URL. A new CRM
plugs into the machinery by one entry here."""
from __future__ import annotations

from importlib import import_module

# name -> (module:class, base URL setting, label)
CRMS: dict[str, tuple[str, str, str]] = {
    "hubspot": ("mobile_sync.crm.hubspot:HubSpotClient", "HUBSPOT_API_URL", "HubSpot"),
    "pipedrive": ("mobile_sync.crm.pipedrive:PipedriveClient", "PIPEDRIVE_API_URL", "Pipedrive"),
}
NAMES = tuple(CRMS)


def label(crm: str) -> str:
    return CRMS[crm][2]


def client_for(crm: str, config, token: str):
    """A client of `crm` with `token`, against the base URL the configuration names."""
    target, url_key, _ = CRMS[crm]
    module, _, cls = target.partition(":")
    client_class = getattr(import_module(module), cls)
    return client_class(config[url_key], token, timeout_s=float(config.get("CRM_TIMEOUT_S", 15)))
