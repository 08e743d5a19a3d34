"""An organisation's time zone until an admin picks one: its region's.

The zones of each region come from the IANA time zone database that
`zoneinfo` reads (its `zone.tab`, the table `pytz.country_timezones` is made
from). A region with several zones takes its most populous one: zone.tab
lists that first for most regions; MOST_POPULOUS names it where it does not
(zone.tab orders some regions east to west), and for US, so the most common
case does not hang on the table's order.
"""
from __future__ import annotations

import zoneinfo
from functools import lru_cache
from importlib import resources
from pathlib import Path

FALLBACK = "UTC"

MOST_POPULOUS = {
    "AU": "Australia/Sydney",     # zone.tab starts at Lord Howe Island
    "BR": "America/Sao_Paulo",    # ... at Fernando de Noronha
    "CA": "America/Toronto",      # ... at St John's
    "PS": "Asia/Hebron",          # the West Bank before Gaza
    "RU": "Europe/Moscow",        # ... at Kaliningrad
    "UA": "Europe/Kyiv",          # ... at Simferopol
    "US": "America/New_York",
    "UZ": "Asia/Tashkent",        # ... at Samarkand
}
# Regions phonenumbers reads numbers for that zone.tab does not list.
NOT_IN_ZONE_TAB = {"AC": "Atlantic/St_Helena", "TA": "Atlantic/St_Helena", "XK": "Europe/Belgrade"}


def _zone_table() -> str:
    """zone.tab from the same places zoneinfo looks: the system's time zone
    directories, then the `tzdata` package."""
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "zone.tab"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:
        return resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return ""


@lru_cache(maxsize=1)
def region_zones() -> dict[str, tuple[str, ...]]:
    """Each ISO 3166 region's IANA zones, in zone.tab's order."""
    zones: dict[str, list[str]] = {}
    for line in _zone_table().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        columns = line.split("\t")
        if len(columns) >= 3:
            zones.setdefault(columns[0].upper(), []).append(columns[2])
    return {region: tuple(names) for region, names in zones.items()}


def region_timezone(region: str | None) -> str:
    """The time zone most of `region`'s people live in (IN → Asia/Kolkata,
    US → America/New_York); UTC for an unknown or missing region."""
    region = (region or "").upper()
    named = MOST_POPULOUS.get(region) or NOT_IN_ZONE_TAB.get(region)
    if named:
        return named
    zones = region_zones().get(region)
    return zones[0] if zones else FALLBACK


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    """Every IANA zone name the zone database has: what a stored zone may be."""
    return frozenset(zoneinfo.available_timezones())


@lru_cache(maxsize=1)
def zone_choices() -> tuple[str, ...]:
    """The zones a person picks from on a page: sorted, old systems' aliases
    (US/Eastern, Etc/GMT+5, posix/...) left out, UTC last."""
    skip = ("Etc/", "posix", "right/", "SystemV/", "US/", "Canada/", "Brazil/", "Mexico/", "Chile/")
    return tuple(sorted(z for z in known_zones() if "/" in z and not z.startswith(skip))) + ("UTC",)

