"""Unit tests of the model package (extensions/playbook/): validators, casings, filters, the model."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from helpers import EXAMPLES, REPO, copier_questions, load_yaml

from extensions.playbook import adrs, data, filters, model, naming, typescript, validators
from extensions.playbook import text as escaping
from extensions.playbook.answers import choice_labels


def default_answers(**overrides: Any) -> dict[str, Any]:
    answers = load_yaml(EXAMPLES / "healthcare-modular-aws.yml")
    answers.update(overrides)
    return answers


@pytest.mark.parametrize(
    ("function", "value", "expected"),
    [
        (naming.pascal_case, "order-items", "OrderItems"),
        (naming.camel_case, "order-items", "orderItems"),
        (naming.snake_case, "order-items", "order_items"),
        (naming.kebab_case, "Order Items", "order-items"),
        (naming.title_case, "order-items", "Order Items"),
        (naming.singular, "orders", "order"),
        (naming.singular, "categories", "category"),
        (naming.singular, "addresses", "address"),
        (naming.singular, "catalog", "catalog"),
        (naming.singular, "ledger", "ledger"),
        (naming.slugify, "Shop: Orders & Payments", "shop-orders-payments"),
        (naming.slugify, "42 Things", "things"),
        (naming.slugify, "映像", "service"),
        (naming.slugify, "x" * 60, "x" * 40),
    ],
)
def test_casings(function: Any, value: str, expected: str) -> None:
    assert function(value) == expected


@pytest.mark.parametrize(
    ("question", "value", "fragment"),
    [
        ("project_slug", "ok-slug", ""),
        ("project_slug", "Bad", "DNS-1123"),
        ("project_slug", "a" * 41, "at most 40"),
        ("bounded_contexts", ["orders"], ""),
        ("bounded_contexts", ["orders", "orders"], "twice"),
        ("bounded_contexts", ["metrics"], "reserved"),
        ("bounded_contexts", [f"c{i}" for i in range(9)], "1 to 8"),
        ("bounded_contexts", "orders", "must be a list"),
        ("contact_email", "a@b.co", ""),
        ("contact_email", "ab.co", "not an e-mail"),
        ("container_registry", "ghcr.io/team", ""),
        ("container_registry", "registry.local:5000/a/b", ""),
        ("container_registry", "ghcr.io/team/", "trailing"),
        ("slo_availability", 99.9, ""),
        ("slo_availability", 100.0, "outside"),
        ("slo_availability", True, "not a number"),
        ("p95_latency_ms", 200, ""),
        ("p95_latency_ms", 0, "outside"),
        ("coverage_threshold", 100, ""),
        ("coverage_threshold", 101, "outside"),
        ("project_name", "Ünïcode 🎉 name", ""),
        ("project_name", "line\u2028break", "single line"),
        ("description", "x" * 301, "at most 300"),
    ],
)
def test_validators(question: str, value: Any, fragment: str) -> None:
    message = validators.check(question, value)
    if fragment:
        assert fragment in message
    else:
        assert message == ""


def test_every_validated_question_has_a_validator_and_its_default_passes() -> None:
    questions = copier_questions()
    for name, spec in questions.items():
        if "validator" in spec and "check(" in spec["validator"]:
            assert name in validators.VALIDATORS, name
            default = spec["default"]
            if not (isinstance(default, str) and "{{" in default):
                assert validators.check(name, default) == "", f"default of {name} fails its own validator"


def test_broker_choice_validator_names_both_answers() -> None:
    message = validators.validate_message_broker("none", "microservices")
    assert "message_broker" in message and "architecture" in message
    assert validators.validate_message_broker("none", "monolith") == ""
    assert validators.validate_message_broker("nats", "microservices") == ""


def test_profiles_give_valid_defaults() -> None:
    for industry in list(choice_labels()["industry"]):
        contexts = yaml.safe_load(filters.profile_contexts(industry))
        assert validators.validate_bounded_contexts(contexts) == ""
        compliance = yaml.safe_load(filters.profile_compliance(industry))
        assert set(compliance) <= set(choice_labels()["compliance"])
        profile = data.industry_profile(industry)
        assert 3 <= len(profile["quality_goals"]) <= 5
        assert profile["external_systems"]


def test_derived_modules_and_services_per_architecture() -> None:
    modular = model.build(default_answers())
    assert [m["slug"] for m in modular.modules] == ["patients", "appointments", "records"]
    assert modular.modules[0]["entity"] == "Patient"
    assert modular.modules[0]["schema"] == "patients"
    assert modular.modules[0]["path"] == "src/modules/patients"
    assert len(modular.services) == 1 and modular.services[0]["entrypoint"] == "dist/main.js"

    micro = model.build(default_answers(architecture="microservices"))
    assert [s["name"] for s in micro.services] == [
        "clinic-records-patients", "clinic-records-appointments", "clinic-records-records"]
    assert [s["local_port"] for s in micro.services] == [3001, 3002, 3003]
    assert micro.services[1]["entrypoint"] == "dist/apps/appointments/main.js"
    assert all(m["schema"] is None for m in micro.modules)
    # Each service reaches its own database on the one local server; .env points at the first.
    urls = [s["local_database_url"] for s in micro.services]
    assert [url.rsplit("/", 1)[1] for url in urls] == [s["database"] for s in micro.services]
    assert len({url.rsplit("/", 1)[0] for url in urls}) == 1 and urls[0].startswith("postgres://")
    env_url = next(v["example"] for v in micro.env_vars if v["name"] == "DATABASE_URL")
    assert env_url == urls[0]

    mysql = model.build(default_answers(database="mysql"))
    assert all(m["schema"] is None for m in mysql.modules)


def test_adrs_are_contiguous_and_follow_the_answers() -> None:
    records = model.build(default_answers()).adrs
    assert [a["number"] for a in records] == list(range(1, len(records) + 1))
    assert records[0]["file"] == "0001-record-architecture-decisions.md"
    keys = [a["key"] for a in records]
    assert "audit-trail" in keys and "module-boundaries" in keys and "transactional-outbox" in keys
    assert "double-entry-ledger" not in keys
    plain = model.build(default_answers(message_broker="none", compliance=[], cache=False)).adrs
    assert "transactional-outbox" not in [a["key"] for a in plain]
    unconditional = [record["key"] for record in adrs.catalogue() if not record.get("when")]
    assert [a["key"] for a in records[: len(unconditional)]] == unconditional
    assert [a["key"] for a in plain[: len(unconditional)]] == unconditional, "records every answer set has come first"


def test_env_vars_follow_answers() -> None:
    names = [v["name"] for v in model.build(default_answers()).env_vars]
    assert "REDIS_URL" in names and "BROKER_URL" in names and "OIDC_ISSUER_URL" in names
    assert "JWT_SECRET" not in names
    jwt = [v["name"] for v in model.build(default_answers(auth="jwt", cache=False, message_broker="none")).env_vars]
    assert "JWT_SECRET" in jwt and "REDIS_URL" not in jwt and "BROKER_URL" not in jwt
    assert all(v["secret"] for v in model.build(default_answers()).env_vars if v["name"] == "DATABASE_URL")


def test_derive_context_is_memoised_and_waits_for_all_answers() -> None:
    answers = default_answers()
    assert model.context({"project_name": "x"}) is None
    first = model.context(answers)
    assert first is model.context(dict(answers))


@pytest.mark.parametrize("text", ['say "hi": #1 {{ x }} ${{ github.token }}', "emoji 🎉 日本語 \\ back", "- dash"])
def test_yaml_str_round_trips(text: str) -> None:
    assert yaml.safe_load(f"key: {escaping.yaml_str(text)}") == {"key": text}
    assert json.loads(escaping.yaml_str(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a *b* [c]", "a \\*b\\* \\[c\\]"), ("1. first", "1\\. first"), ("plain, text.", "plain, text.")],
)
def test_md_text(text: str, expected: str) -> None:
    assert escaping.md_text(text) == expected


def test_action_ref_is_pinned_by_sha() -> None:
    ref = filters.action_ref("checkout")
    uses, comment = ref.split(" # ")
    assert len(uses.split("@")[1]) == 40 and comment.startswith("v")


def test_stack_manifest_is_complete() -> None:
    stack = data.stack_manifest()
    assert stack["playbook"]["version"]
    for line in ("22", "24"):
        node = stack["node"][line]
        assert node["version"].startswith(f"{line}.")
        assert node["build_image"].startswith(f"node:{node['version']}")
        assert f"nodejs{line}" in node["runtime_image"] and node["runtime_image"].endswith(":nonroot")
    assert stack["npm"]["dev"]["typescript"].startswith("~6.0")
    for action in stack["actions"].values():
        assert len(action["sha"]) == 40 and action["tag"].startswith("v")


def test_extension_module_loads_by_path_like_copier_does() -> None:
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("probe_context", REPO / "extensions" / "context.py")
    assert spec and spec.loader
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.filters.GLOBALS["check"]("project_slug", "Bad Slug") != ""
    assert module.model.__name__.startswith("_nest_playbook_"), "the package loads under a name unique to its path"
    context = module.model.context(default_answers())
    assert context is not None and context["modules"][0]["slug"] == "patients"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Example Service", "'Example Service'"),
        ("Shop: Orders & Payments", "'Shop: Orders & Payments'"),  # no JSON/HTML escapes such as \u0026
        ('The "Spring Sale"', "'The \"Spring Sale\"'"),  # double quotes need no escape in single quotes
        ("the team's service", "\"the team's service\""),  # more single than double quotes: double quotes
        ("it's \"x\"", "'it\\'s \"x\"'"),  # a tie keeps single quotes and escapes the one inside
        ("a\\b\nc\u2028", "'a\\\\b\\nc\\u2028'"),
        ("tokenised \u2014 only", "'tokenised \u2014 only'"),
    ],
)
def test_ts_str_prints_string_literals_as_prettier_does(value: str, expected: str) -> None:
    assert typescript.ts_str(value) == expected


def test_ts_list_is_flat_up_to_the_print_width_then_one_item_a_line() -> None:
    head = "  providers: "
    room = typescript.PRETTIER_PRINT_WIDTH - len(head) - len("[, ],")
    fits = ["A" * (room // 2), "B" * (room - room // 2)]
    flat = typescript.ts_list(fits, head, ",")
    assert flat == f"{head}[{fits[0]}, {fits[1]}]," and len(flat) == typescript.PRETTIER_PRINT_WIDTH
    broken = typescript.ts_list([fits[0], fits[1] + "C"], head, ",")
    assert broken == f"{head}[\n    {fits[0]},\n    {fits[1]}C,\n  ],"
    assert typescript.ts_list([], "x = ", ";") == "x = [];"
    assert typescript.ts_list(["a"], "  f", ";", "()") == "  f(a);"
    assert typescript.ts_list(["kind: 'url'", "required: true"], "  A: ", ",", "{}") == (
        "  A: { kind: 'url', required: true },")
    # width is measured on the last line of the head, in display columns (wide characters count two)
    assert typescript.ts_fits("x\n" + "y" * 100) and not typescript.ts_fits("\u6620" * 51)


def test_ts_import_and_ts_assign() -> None:
    assert typescript.ts_import(["A", "B"], "./a") == "import { A, B } from './a';"
    long_names = [f"Name{i:02}Abcdefghij" for i in range(6)]
    assert typescript.ts_import(long_names, "./m", "import type") == (
        "import type {\n" + "".join(f"  {n},\n" for n in long_names) + "} from './m';")
    # Prettier never breaks an import of a single name, however long the line
    assert typescript.ts_import(["X" * 120], "./x") == f"import {{ {'X' * 120} }} from './x';"
    assert typescript.ts_assign("  title:", "'short'", ",") == "  title: 'short',"
    value = "'" + "x" * 95 + "'"
    assert typescript.ts_assign("  title:", value, ",") == f"  title:\n    {value},"


def test_ts_str_means_the_same_text_to_node() -> None:
    from helpers import run, tool

    values = ["plain", "it's", 'say "hi"', "both ' and \" and '", "back\\slash", "line\nbreak\r\t\b\f\v",
              "\x00\x1f\x7f", "\u2028\u2029", "emoji \U0001f600 \u6620\u50cf", "${not} `a template`", "</script>"]
    program = "console.log(JSON.stringify([" + ", ".join(typescript.ts_str(v) for v in values) + "]))"
    result = run([tool("node"), "-e", program], timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == values


def test_adr_titles_name_answers_by_the_labels_copier_shows() -> None:
    """One copy of each label: the titles read copier.yml's (the on-premises title once said
    "On-premises" where the question says "On-premises Kubernetes")."""
    for cloud, shown in choice_labels()["cloud"].items():
        titles = {a["key"]: a["title"] for a in model.build(default_answers(cloud=cloud)).adrs}
        assert titles["cloud-runtime"] == f"Cloud and runtime: {shown}"
    titles = {a["key"]: a["title"] for a in model.build(default_answers(http_adapter="express")).adrs}
    assert titles["http-adapter"] == f"HTTP adapter: {choice_labels()['http_adapter']['express']}"


def test_module_boundaries_title_names_what_a_module_owns_in_its_database() -> None:
    """MySQL has no schema inside a database: a module owns a set of tables, and the title says so."""
    for database, unit in (("postgresql", "Schema"), ("mysql", "Set of tables")):
        context = model.build(default_answers(architecture="modular-monolith", database=database)).as_context()
        titles = {a["key"]: a["title"] for a in context["adrs"]}
        assert titles["module-boundaries"] == f"{unit} per module and enforced module boundaries"
        assert context["database_info"]["module_unit"] == unit.lower()
