"""Section 7.9's compliance checklists and section 8.1's copies of record data
(extensions/data/compliance.yml, extensions/playbook/compliance.py).

A row is "Generated" only with a file of the render and a check that shows it: in every render of the
matrix, each evidence item's file exists and its pattern is found there, and every "Generated" cell of
the document names such a file. The data file's rules (no typed "Generated", a part for every item of a
row that also has a status, a requirement for every file the application owns) and its conditions are
checked without rendering; the missing regime rows and their citations are pinned.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from helpers import EXAMPLES, Renderer, answers_of, copier_questions, load_yaml
from matrix import all_combinations

from extensions.playbook import compliance, model

DOC = Path("docs/architecture/DOC006-BackendArchitecture.md")
BACKTICKED_PATH = re.compile(r"`(\.?[\w-]+(?:[./][\w-]+)+|CODEOWNERS)`")
ALL_REGIMES = ["gdpr", "hipaa", "pci-dss", "sox"]


# ------------------------------------------------------------------------------------ helpers


def evidence_problems(root: Path, items: list[dict[str, Any]], where: str) -> list[str]:
    """Each item's file exists in the render and its pattern finds what the check names."""
    problems = []
    for item in items:
        path = root / item["file"]
        if not path.is_file():
            problems.append(f"{where}: `{item['file']}` is not in the render ({item['check']})")
        elif not re.search(item["pattern"], path.read_text(encoding="utf-8")):
            problems.append(f"{where}: `{item['file']}` does not show that it {item['check']} "
                            f"(pattern {item['pattern']!r})")
    return problems


def model_problems(root: Path, context: dict[str, Any]) -> list[str]:
    problems = []
    for checklist in context["checklists"]:
        for row in checklist["rows"]:
            problems += evidence_problems(root, row["generated"], f"{checklist['key']} {row['control'][:60]!r}")
            if ("Generated" in row["status"]) != bool(row["generated"]):
                problems.append(f"{checklist['key']} {row['control'][:60]!r}: status {row['status']!r} "
                                f"against {len(row['generated'])} generated evidence items")
    for copy in context["record_copies"]["rows"]:
        problems += evidence_problems(root, copy["generated"], f"copy {copy['name']!r}")
    return problems


def sections(text: str, marker: str) -> str:
    """The text from the heading `marker` to the next heading of the same or a higher level."""
    level = marker.split(" ", 1)[0]
    start = text.index(marker + " ")
    end = re.compile(rf"^#{{1,{len(level)}}} ", re.M).search(text, start + len(marker))
    return text[start:end.start() if end else len(text)]


def table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not re.match(r"^\|( -+ \|)+$", line):
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return [row for row in rows if row[0] not in ("Control", "Class", "Copy")]


def document_problems(root: Path, context: dict[str, Any]) -> list[str]:
    """The document's 7.9 tables are the model's rows; every "Generated" cell names files of the render."""
    doc = (root / DOC).read_text(encoding="utf-8")
    problems = []
    rows = table_rows(sections(doc, "### 7.9"))
    expected = [row for checklist in context["checklists"] for row in checklist["rows"]]
    if [row[0] for row in rows] != [row["control"] for row in expected]:
        problems.append(f"7.9 rows {[row[0][:30] for row in rows]} are not the model's")
    for cells in rows:
        control, _where, evidence, status = cells
        named = [path for path in BACKTICKED_PATH.findall(evidence) if (root / path).is_file()]
        if "Generated" in status and not named:
            problems.append(f"7.9 {control[:60]!r}: Generated without a file of the render in {evidence!r}")
    if context["record_copies"]["rows"]:
        copies = table_rows(sections(doc, "### 8.1"))[-len(context["record_copies"]["rows"]):]
        if [row[0] for row in copies] != [copy["name"] for copy in context["record_copies"]["rows"]]:
            problems.append("8.1 copies are not the model's")
        for cells in copies:
            missing = [path for path in BACKTICKED_PATH.findall(cells[-1]) if not (root / path).is_file()]
            if missing or not cells[-1]:
                problems.append(f"8.1 copy {cells[0]!r}: written by {missing or 'nothing'}")
    return problems


# ------------------------------------------------------------------------------------ every render


def test_generated_rows_show_what_they_claim(rendered: Path) -> None:
    context = model.build(answers_of(rendered)).as_context()
    problems = model_problems(rendered, context) + document_problems(rendered, context)
    assert not problems, "\n".join(problems)


def test_a_missing_check_fails(renderer: Renderer, tmp_path: Path) -> None:
    """The check is live: with the e2e tests' `401` assertion gone, the rows that cite it fail."""
    example = next(c for c in all_combinations() if c.id == "example-healthcare-modular-aws")
    rendered = renderer.render(example.id, example.answers)
    context = model.build(answers_of(rendered)).as_context()
    cited = {item["file"] for checklist in context["checklists"] for row in checklist["rows"]
             for item in row["generated"] if "401" in item["check"]}
    assert cited
    copy = tmp_path / "render"
    shutil.copytree(rendered, copy, ignore=shutil.ignore_patterns("node_modules", ".git"))
    for name in cited:
        spec = copy / name
        spec.write_text(spec.read_text(encoding="utf-8").replace(".expect(401)", ".expect(200)"), encoding="utf-8")
    assert any("`401`" in problem for problem in model_problems(copy, context))


# ------------------------------------------------------------------------------------ the data file


def base_answers(**overrides: Any) -> dict[str, Any]:
    answers = load_yaml(EXAMPLES / "healthcare-modular-aws.yml")
    answers.update({"compliance": list(ALL_REGIMES), **overrides})
    return answers


def answer_sets() -> list[dict[str, Any]]:
    """Every example; every regime alone and none; and each value of each choice question, with all
    regimes and with none."""
    sets = [load_yaml(path) for path in sorted(EXAMPLES.glob("*.yml"))]
    sets += [base_answers(compliance=[regime]) for regime in ALL_REGIMES] + [base_answers(compliance=[])]
    for name, spec in copier_questions().items():
        if name == "compliance" or not (spec.get("choices") or spec.get("type") == "bool"):
            continue
        choices = spec.get("choices", {}).values()
        values = [choice["value"] if isinstance(choice, dict) else choice for choice in choices] or [True, False]
        for value in values:
            answer = [value] if spec.get("multiselect") else value
            sets += [base_answers(**{name: answer}), base_answers(**{name: answer, "compliance": []})]
    return [a for a in sets if a["architecture"] != "microservices" or a["message_broker"] != "none"]


def rows_of(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """A data row and its cases, as the variants whose fields apply."""
    return [{**entry, **case} for case in entry["cases"]] if "cases" in entry else [entry]


def data_rows() -> list[tuple[str, dict[str, Any]]]:
    data = compliance.catalogue()
    return [(checklist["key"], row) for checklist in data["checklists"] for row in checklist["rows"]]


def test_status_is_never_typed_generated() -> None:
    for key, entry in data_rows():
        for variant in rows_of(entry):
            assert "Generated" not in str(variant.get("status", "")), (key, entry["control"])
            assert "Required of" not in str(variant.get("status", "")), (key, entry["control"])
            assert variant.get("status") or variant.get("evidence"), f"{key} {entry['control']!r}: no status"


def test_evidence_items_are_complete() -> None:
    items: list[tuple[str, dict[str, Any], bool]] = []
    for key, entry in data_rows():
        for variant in rows_of(entry):
            items += [(f"{key} {entry['control'][:50]!r}", item, "status" in variant)
                      for item in variant.get("evidence", [])]
    copies = compliance.catalogue()["copies"]
    for entry in [copies["events"]["event"], copies["events"]["inbox"], *copies["rows"]]:
        items += [(f"copy {entry['name']!r}", item, False) for item in entry.get("evidence", [])]
    assert items
    for where, item, with_status in items:
        assert {"file", "check", "pattern"} <= item.keys(), where
        re.compile(compliance.fill_pattern(item["pattern"], {
            "event": "PatientCreated", "module_slug": "patients", "event_type": "patients.created"}))
        if with_status:
            assert item.get("part"), f"{where}: a row with a status names the generated part"
        if not where.startswith("copy") and compliance.app_only(item["file"].format(
                e2e_spec="test/app.e2e-spec.ts", platform_dir="src/platform")):
            assert item.get("requirement"), f"{where}: {item['file']} needs the requirement of an existing app"


def test_conditions_select_rows_and_every_brace_is_filled() -> None:
    """Every row and checklist with a condition is selected by some answer sets and not by others, a
    row with cases reads differently for some, and no text keeps a brace."""
    seen: dict[tuple[str, str], set[str]] = {}
    checklists_seen: dict[str, int] = {}
    sets = answer_sets()
    for answers in sets:
        context = model.build(answers).as_context()
        for checklist in context["checklists"]:
            checklists_seen[checklist["key"]] = checklists_seen.get(checklist["key"], 0) + 1
            present = {row["control"]: row for row in checklist["rows"]}
            for key, entry in data_rows():
                if key == checklist["key"]:
                    control = compliance.fill(entry["control"], {})
                    found = present.get(control)
                    seen.setdefault((key, control), set()).add(
                        "(dropped)" if found is None else f"{found['where']}|{found['evidence']}|{found['status']}")
            for row in checklist["rows"]:
                text = " ".join([checklist["intro"], checklist["notes"], *(str(v) for v in row.values())])
                assert not re.search(r"\{[a-z_-]+\}", text), text
        for copy in context["record_copies"]["rows"]:
            assert not re.search(r"\{[a-z_-]+\}", " ".join(str(v) for v in copy.values())), copy
    for checklist in compliance.catalogue()["checklists"]:
        assert 0 < checklists_seen.get(checklist["key"], 0) < len(sets), checklist["key"]
    for key, entry in data_rows():
        variants = seen[(key, compliance.fill(entry["control"], {}))]
        if "when" in entry:
            assert "(dropped)" in variants and len(variants) > 1, (key, entry["control"])
        else:
            assert "(dropped)" not in variants, (key, entry["control"])
        if "cases" in entry or any("when" in item for item in entry.get("evidence", [])):
            assert len(variants - {"(dropped)"}) > 1, f"{key} {entry['control']!r}: the same for every answer set"


def controls(answers: dict[str, Any], key: str) -> list[str]:
    for checklist in model.build(answers).as_context()["checklists"]:
        if checklist["key"] == key:
            return [row["control"] for row in checklist["rows"]]
    return []


def test_hipaa_risk_analysis_and_contingency_plan_rows() -> None:
    rows = " ".join(controls(base_answers(), "hipaa"))
    for citation in ("§164.308(a)(1)(ii)(A) Risk analysis (R)", "§164.308(a)(1)(ii)(B) Risk management (R)",
                     "§164.308(a)(7)(ii)(A) Contingency plan, data backup plan (R)",
                     "§164.308(a)(7)(ii)(B) Contingency plan, disaster recovery plan (R)",
                     "§164.308(a)(7)(ii)(C) Contingency plan, emergency mode operation plan (R)",
                     "§164.308(a)(7)(ii)(D) Contingency plan, testing and revision procedures (A)",
                     "§164.308(a)(7)(ii)(E) Contingency plan, applications and data criticality analysis (A)"):
        assert citation in rows


def test_gdpr_special_categories_only_with_health_data_and_processors_always() -> None:
    def gdpr(**overrides: Any) -> str:
        return " ".join(controls(base_answers(**overrides), "gdpr"))

    assert "Art. 9(1)" in gdpr(industry="healthcare", compliance=["gdpr"])
    assert "Art. 9(1)" in gdpr(industry="general", compliance=["gdpr", "hipaa"])
    assert "Art. 9(1)" not in gdpr(industry="ecommerce", compliance=["gdpr"])
    for industry in ("general", "healthcare"):
        assert "Art. 28 processors" in gdpr(industry=industry, compliance=["gdpr"])
    assert gdpr(compliance=["hipaa"]) == ""


def test_pci_data_flow_diagram_row_is_not_generated() -> None:
    """No diagram shows the card-data path (no PSP integration is generated): 1.2.4 stays Proposed."""
    for industry in ("ecommerce", "finance"):
        context = model.build(base_answers(industry=industry, compliance=["pci-dss"])).as_context()
        row = next(row for checklist in context["checklists"] for row in checklist["rows"]
                   if row["control"].startswith("1.2.4"))
        assert row["status"] == "Proposed" and not row["generated"]
        assert ("shows the payment service provider" in row["where"]) == (industry == "ecommerce")


def test_copies_follow_the_events_and_their_consumers() -> None:
    """One event row and one inbox row per module; the inbox of module i+1 stores module i's events, in
    the consumer's own database for microservices."""
    answers = load_yaml(EXAMPLES / "finance-microservices-azure.yml")
    rows = model.build(answers).as_context()["record_copies"]["rows"]
    names = [row["name"] for row in rows]
    assert names[:9] == ["`accounts.created` events", "Outbox of `accounts`", "Inbox of `ledger`",
                         "`ledger.created` events", "Outbox of `ledger`", "Inbox of `payments`",
                         "`payments.created` events", "Outbox of `payments`", "Inbox of `accounts`"]
    # the outbox in the producer's database, the inbox in the consumer's
    assert "database `accounts`" in rows[1]["where"] and "database `ledger`" in rows[2]["where"]
    assert "database `accounts`" in rows[8]["where"]
    none = model.build({**answers, "architecture": "monolith", "message_broker": "none"}).as_context()
    assert not any("events" in row["name"] or "box of" in row["name"] for row in none["record_copies"]["rows"])
    existing = model.build({**answers, "include_app": False}).as_context()
    assert existing["record_copies"]["rows"] == []
