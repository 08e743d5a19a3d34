"""What the contact tests send: a contact made through the API (`create`), a
CSV file (`csv_body`, `generated_lines`) and its import (`import_csv`), and
the Caller ID answer for a number (`who`). The `team` fixture is an
organisation with an admin, a manager and two reps."""
import pytest


HEADER = "name,company,email,source,phones"


def csv_body(*lines, header=HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def import_csv(actor, data: bytes, content_type="text/csv", **query):
    return actor.post("/api/v1/contacts/import", data=data, headers={"Content-Type": content_type},
                      query_string=query)


def generated_lines(count: int, start: int = 0) -> list[str]:
    """Distinct valid Indian mobiles; every third line has a second number."""
    lines = []
    for i in range(start, start + count):
        phones = f"+91 98{i:08d}" + (f";099{i:08d}" if i % 3 == 0 else "")
        lines.append(f"Person {i},Company {i % 50},p{i}@example.test,expo,{phones}")
    return lines


def who(actor, number):
    response = actor.get("/api/v1/caller-id", query_string={"number": number})
    assert response.status_code == 200, response.json
    return response.json["match"]


@pytest.fixture
def team(make_org, make_user):
    admin = make_org(region="IN")
    return {"admin": admin, "manager": make_user(admin, role="manager", name="Mona Manager"),
            "rep": make_user(admin, role="rep", name="Ravi Rep"), "rep2": make_user(admin, role="rep", name="Rita Rep")}


def create(actor, **fields):
    body = {"name": "Asha Rao", "phones": ["098765 43210"], **fields}
    return actor.post("/api/v1/contacts", json=body)
