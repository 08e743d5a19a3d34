"""An organisation's time zone comes from its region until an admin picks one."""
import pytest
from zoneinfo import ZoneInfo

from mobile_sync.timezones import MOST_POPULOUS, NOT_IN_ZONE_TAB, region_timezone, region_zones


@pytest.mark.parametrize("region, zone", [("IN", "Asia/Kolkata"), ("US", "America/New_York"),
                                          ("GB", "Europe/London"), ("AU", "Australia/Sydney"),
                                          ("BR", "America/Sao_Paulo"), ("RU", "Europe/Moscow"),
                                          ("CA", "America/Toronto"), ("DE", "Europe/Berlin")])
def test_a_new_organisation_takes_its_regions_most_populous_zone(make_org, region, zone):
    admin = make_org(region=region)
    assert admin.get("/api/v1/settings").json["timezone"] == zone


def test_a_chosen_zone_wins_over_the_regions(make_org):
    admin = make_org(region="IN")
    assert admin.patch("/api/v1/settings", json={"timezone": "Europe/Paris"}).status_code == 200
    assert admin.get("/api/v1/settings").json["timezone"] == "Europe/Paris"
    assert admin.patch("/api/v1/settings", json={"region": "US"}).json["timezone"] == "Europe/Paris"


def test_until_one_is_chosen_the_zone_follows_the_region(make_org):
    admin = make_org(region="IN")
    assert admin.patch("/api/v1/settings", json={"region": "GB"}).json["timezone"] == "Europe/London"


def test_an_existing_organisation_without_a_zone_takes_its_regions(make_org, clean_app):
    from mobile_sync.store.models import Organization
    from server.extensions import db

    admin = make_org(region="US")
    with clean_app.app_context():
        org = db.session.get(Organization, admin.organization_id)
        org.settings = {"retention_days": 400}  # stored before zones came from regions
        db.session.commit()
    settings = admin.get("/api/v1/settings").json
    assert settings["timezone"] == "America/New_York" and settings["retention_days"] == 400


@pytest.mark.parametrize("region", ["ZZ", "001", "", None])
def test_an_unknown_region_is_utc(region):
    assert region_timezone(region) == "UTC"


def test_every_region_a_number_can_be_read_in_has_a_zone_zoneinfo_knows():
    import phonenumbers

    for region in phonenumbers.SUPPORTED_REGIONS:
        zone = region_timezone(region)
        assert zone != "UTC" or region in ("001",), region
        ZoneInfo(zone)


def test_the_named_zones_are_their_regions_own():
    for region, zone in MOST_POPULOUS.items():
        assert zone in region_zones()[region], region
    assert not set(NOT_IN_ZONE_TAB) & set(region_zones())
