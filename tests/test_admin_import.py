"""Doctor directory import (CSV, FHIR Bundle) and FHIR export: every rejected row reported
with its line, a valid knowledge folder written, hand-written aliases kept, and a bad file
changing nothing."""
from __future__ import annotations

import csv
import io
import json
import random

import pytest

from bot.admin.fhir import validate_bundle
from bot.core.engine import Assistant
from bot.core.types import Message
from bot.knowledge.loader import check_knowledge, load_knowledge

GIVEN = ["Amina", "Youssef", "Fatima", "Omar", "Salma", "Hamza", "Leila", "Rachid", "Mei", "Jun"]
FAMILY = ["Bennani", "Alaoui", "Idrissi", "Tazi", "Chraibi", "Fassi", "Berrada", "Lahlou", "Zhao",
          "Kettani"]


@pytest.fixture
def forumbot(forumbot_here):
    return forumbot_here


CITIES = {"Settat": {"city": "Settat", "city_fr": "Settat", "city_ar": "سطات", "city_zh": "塞塔特"},
          "Casablanca": {"city": "Casablanca", "city_fr": "Casablanca", "city_ar": "الدار البيضاء",
                         "city_zh": "卡萨布兰卡"}}


def directory_csv(rows: int, bad: dict[int, dict]) -> str:
    """A hospital export of ``rows`` clinicians; ``bad`` maps a row number (0-based) to the
    cells that break it."""
    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.DictWriter(out, ["name", "title", "specialty", "conditions", "languages",
                                  "city", "city_fr", "city_ar", "city_zh", "institution",
                                  "phone", "email"], lineterminator="\n")
    writer.writeheader()
    for i in range(rows):
        row = {"name": f"{rng.choice(GIVEN)} {rng.choice(FAMILY)} {i}", "title": "Dr.",
               "specialty": rng.choice(["obstetrics", "Gynécologue", "anesthesiologist",
                                        "sage-femme", "麻醉医生"]),
               "conditions": rng.choice(["preeclampsia; GDM", "", "hémorragie du post-partum"]),
               "languages": rng.choice(["fr; ar", "en", "French, Arabic", ""]),
               **rng.choice([CITIES["Settat"], CITIES["Casablanca"], {}]),
               "institution": "Hassan II Hospital",
               "phone": f"+212 523 {i:06d}", "email": f"doctor{i}@example.org"}
        row.update(bad.get(i, {}))
        writer.writerow(row)
    return out.getvalue()


def test_a_500_row_csv_imports_with_a_report_of_every_rejected_row(forumbot, knowledge_copy,
                                                                   tmp_path):
    bad = {10: {"specialty": "dentist"}, 99: {"name": ""}, 250: {"languages": "klingon"},
           251: {"phone": "call the desk"}, 400: {"specialty": ""},
           401: {"conditions": "preeclampsia; chocolate cravings"}}
    path = tmp_path / "directory.csv"
    path.write_text(directory_csv(500, bad), encoding="utf-8")
    ran = forumbot("--knowledge", knowledge_copy, "import", "doctors", path)
    assert ran.returncode == 0, ran.stdout
    lines = ran.stdout.splitlines()
    rejected = [x for x in lines if x.startswith("rejected ")]
    # data row i is on file line i + 2 (the header is line 1)
    assert [x.split(":")[0] for x in rejected] == [f"rejected line {i + 2}"
                                                    for i in (10, 99, 250, 251, 400)]
    assert "unknown specialty 'dentist'" in rejected[0] and "no name" in rejected[1]
    assert "unknown language 'klingon'" in rejected[2] and "not a valid phone" in rejected[3]
    assert "no specialty" in rejected[4]
    assert any("line 403: condition 'chocolate cravings'" in x for x in lines)
    assert lines[-1] == "495 added, 0 updated, 0 removed, 5 rejected"

    knowledge, problems = check_knowledge(knowledge_copy, warnings=False)
    assert knowledge is not None, [str(p) for p in problems]
    assert len(knowledge.doctors) == 6 + 495  # the forum's listings are kept
    assert forumbot("check", knowledge_copy).returncode == 0
    assert forumbot("test", knowledge_copy).returncode == 0
    doctor = next(d for d in knowledge.doctors if d.id.endswith("-401"))
    assert doctor.conditions == ["preeclampsia"]
    assert doctor.telecom[0].value == "+212 523 000401"
    # the knowledge already translates the hospital; the file gave the city's languages
    assert doctor.organization.ar == "مستشفى الحسن الثاني"
    assert doctor.location is None or doctor.location.zh in ("塞塔特", "卡萨布兰卡")
    assert k_title(knowledge, doctor) == "الدكتور"


def k_title(knowledge, doctor):
    return knowledge.get("person", doctor.practitioner).title.ar


def test_untranslated_texts_are_named_and_change_nothing(forumbot, knowledge_copy, tmp_path):
    before = {p.name: p.read_bytes() for p in knowledge_copy.glob("*.yaml")}
    path = tmp_path / "d.csv"
    path.write_text("name,specialty,city\nNadia Bennani,obstetrics,Berrechid\n", encoding="utf-8")
    ran = forumbot("--knowledge", knowledge_copy, "import", "doctors", path)
    assert ran.returncode == 1 and "NOTHING CHANGED" in ran.stdout
    assert "note: 1 text(s) have no French, Arabic or Chinese version (Berrechid)" in ran.stdout
    assert {p.name: p.read_bytes() for p in knowledge_copy.glob("*.yaml")} == before
    (knowledge_copy / "policy.yaml").write_text("translations:\n  english_first: true\n",
                                                encoding="utf-8")
    assert forumbot("--knowledge", knowledge_copy, "import", "doctors", path).returncode == 0
    assert load_knowledge(knowledge_copy).get("doctor", "dr-nadia-bennani").location == "Berrechid"


def test_a_reimport_keeps_hand_written_aliases_and_removes_what_left_the_directory(
        forumbot, knowledge_copy, tmp_path):
    (knowledge_copy / "policy.yaml").write_text("translations:\n  english_first: true\n",
                                                encoding="utf-8")
    path = tmp_path / "d.csv"
    path.write_text("name,specialty,city\nNadia Bennani,obstetrics,Settat\n"
                    "Karim Alaoui,anesthesiologist,\n", encoding="utf-8")
    assert forumbot("--knowledge", knowledge_copy, "import", "doctors", path).returncode == 0
    people = knowledge_copy / "directory-01.yaml"
    people.write_text(people.read_text(encoding="utf-8").replace(
        '    name: "Nadia Bennani"\n', '    name: "Nadia Bennani"\n    aliases: [Bennani, Nadia Benani]\n'),
        encoding="utf-8")
    assert Assistant(load_knowledge(knowledge_copy)).reply(Message("nadia benani")).ids[0] == \
        "person:nadia-bennani"
    path.write_text("name,specialty,city\nNadia Bennani,obstetrics,Casablanca\n", encoding="utf-8")
    ran = forumbot("--knowledge", knowledge_copy, "import", "doctors", path)
    assert ran.stdout.splitlines()[-1] == "0 added, 1 updated, 1 removed, 0 rejected"
    k = load_knowledge(knowledge_copy)
    assert k.get("person", "nadia-bennani").aliases == ["Bennani", "Nadia Benani"]
    assert k.get("doctor", "dr-nadia-bennani").location == "Casablanca"
    assert "person:karim-alaoui" not in k.entries and "doctor:dr-karim-alaoui" not in k.entries
    assert "doctor:dr-cai-bin" in k.entries


def test_a_file_that_would_break_the_knowledge_changes_nothing(forumbot, knowledge_copy,
                                                               tmp_path):
    before = {p.name: p.read_bytes() for p in knowledge_copy.glob("*.yaml")}
    path = tmp_path / "d.csv"
    # Cai Bin's own listing re-imported without his condition: tests.yaml asks for it
    path.write_text("id,name,specialty\ncai-bin,Cai Bin,anesthesiology\n", encoding="utf-8")
    ran = forumbot("--knowledge", knowledge_copy, "import", "doctors", path)
    assert ran.returncode == 1
    assert "NOTHING CHANGED" in ran.stdout and "a doctor for postpartum hemorrhage" in ran.stdout
    assert {p.name: p.read_bytes() for p in knowledge_copy.glob("*.yaml")} == before
    path.write_text("nom,specialite\nx,y\n", encoding="utf-8")
    ran = forumbot("--knowledge", knowledge_copy, "import", "doctors", path)
    assert "rejected line 1: missing column(s) name, specialty; unknown column(s) nom, specialite" \
        in ran.stdout
    assert {p.name: p.read_bytes() for p in knowledge_copy.glob("*.yaml")} == before


def practitioner(pid, name, **more):
    return {"fullUrl": f"urn:uuid:{pid}", "resource": {
        "resourceType": "Practitioner", "id": pid, "name": [name], **more}}


def role(rid, pid, specialties, **more):
    return {"resource": {"resourceType": "PractitionerRole", "id": rid,
                         "practitioner": {"reference": f"Practitioner/{pid}"},
                         "specialty": [{"text": s} for s in specialties], **more}}


def test_a_fhir_bundle_with_malformed_entries(forumbot, knowledge_copy, tmp_path):
    entries = [
        practitioner("p1", {"given": ["Salma"], "family": "Idrissi", "prefix": ["Dr."]},
                     communication=[{"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}]),
        role("r1", "p1", ["Obstetrics", "preeclampsia"],
             organization={"display": "Hassan II Hospital"},
             telecom=[{"system": "phone", "value": "+212 523 40 00 00"}],
             availableTime=[{"daysOfWeek": ["mon", "tue"], "availableStartTime": "09:00:00",
                             "availableEndTime": "13:00:00"}]),
        practitioner("p2", "not a list"),                                    # malformed
        role("r2", "p404", ["Obstetrics"]),                                  # dangling
        practitioner("p3", {"text": "Jun Zhao"}),                            # no role
        {"resource": {"resourceType": "Patient", "id": "x"}},                # wrong kind
        role("r4", "p1", ["Anesthesiology"], availableTime=[{"availableStartTime": "9am"}]),
    ]
    text = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries},
                      indent=2)
    path = tmp_path / "directory.json"
    path.write_text(text, encoding="utf-8")
    ran = forumbot("--knowledge", knowledge_copy, "import", "doctors", path)
    assert ran.returncode == 0, ran.stdout
    rejected = [x for x in ran.stdout.splitlines() if x.startswith("rejected ")]
    starts = [i + 1 for i, line in enumerate(text.splitlines()) if line == "    {"]
    assert len(rejected) == 5
    got = {x.split(",")[0].removeprefix("rejected line "): x for x in rejected}
    assert "Practitioner/p2): name" in got[str(starts[2])]
    assert "'Practitioner/p404' is not a Practitioner" in got[str(starts[3])]
    assert "no PractitionerRole" in got[str(starts[4])]
    assert "Patient is not a Practitioner" in got[str(starts[5])]
    assert "availableTime.0.availableStartTime" in got[str(starts[6])]
    k = load_knowledge(knowledge_copy)
    doctor = k.get("doctor", "dr-p1")
    assert doctor.specialty == ["obstetrics"] and doctor.conditions == ["preeclampsia"]
    assert doctor.communication == ["fr"] and doctor.organization.fr == "Hôpital Hassan II"
    assert doctor.available_times[0].days == ["mon", "tue"]
    assert doctor.available_times[0].start == "09:00"
    assert k.get("person", "p1").name == "Salma Idrissi" and k.get("person", "p1").title.en == "Dr."
    assert forumbot("check", knowledge_copy).returncode == 0


def test_export_validates_and_reads_back(forumbot, knowledge, knowledge_copy, tmp_path):
    out = tmp_path / "bundle.json"
    assert forumbot("export", "fhir", "-o", out).returncode == 0
    bundle = json.loads(out.read_text(encoding="utf-8"))
    validate_bundle(bundle)  # raises when fhir.resources rejects it
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Practitioner") == 6 and kinds.count("PractitionerRole") == 6
    for entry in bundle["entry"]:  # the article gives no contact details, hours or places
        assert not {"telecom", "availableTime", "location", "organization",
                    "communication"} & set(entry["resource"])
    ran = forumbot("--knowledge", knowledge_copy, "import", "doctors", out)
    assert ran.stdout.splitlines()[-1].startswith("0 added, 6 updated, 0 removed, 0 rejected")
    after = load_knowledge(knowledge_copy)
    assert [(d.id, d.practitioner, d.specialty, d.conditions) for d in after.doctors] == \
        [(d.id, d.practitioner, d.specialty, d.conditions) for d in knowledge.doctors]
