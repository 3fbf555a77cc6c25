"""The architecture document and the ADRs of every render (issue 3).

Structure (the 15 sections and the appendices), markdownlint-cli2 with the generated config,
mermaid.parse() under jsdom, relative links and anchors, residue (TODO, unrendered Jinja), the
facts the answers determine (a data-driven table), the ADR folder (MADR 4.0.0 headings, index,
numbering), agreement with the generated code where the document names it, and golden copies of
each example's document (`--update-golden` rewrites them).

The two Node tools run once per session over all renders (see `doc_tool_reports`); the tests
then assert per combination.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock
from helpers import REPO, TESTS, Renderer, load_yaml, run, tool
from markdown_it import MarkdownIt
from matrix import Combination, all_combinations

from extensions.playbook import contract, data, model, objectives
from extensions.playbook import text as escaping
from extensions.playbook.answers import choice_labels as answer_labels

DOC = Path("docs/architecture/DOC006-BackendArchitecture.md")
ADR_DIR = Path("docs/adr")
GOLDEN = TESTS / "golden"
COMBINATIONS = all_combinations()
EXAMPLES = [c for c in COMBINATIONS if c.id.startswith("example-")]

SECTIONS = [
    "1. Architecture Overview",
    "2. Architectural Drivers",
    "3. C4 Model Architecture",
    "4. Technology Stack",
    "5. Architectural Patterns",
    "6. Performance & Scalability",
    "7. Security Architecture",
    "8. Data Architecture",
    "9. API Design",
    "10. Event-Driven Architecture",
    "11. Cloud-Native Architecture",
    "12. Testing Architecture",
    "13. Monitoring & Observability",
    "14. Deployment Architecture",
    "15. Architecture Decision Records",
    "Appendix A. Open Questions and Assumptions",
    "Appendix B. Risks and Technical Debt",
    "Appendix C. Glossary",
]
MADR_HEADINGS = [
    (2, "Context and Problem Statement"),
    (2, "Decision Drivers"),
    (2, "Considered Options"),
    (2, "Decision Outcome"),
    (3, "Consequences"),
    (3, "Confirmation"),
    (2, "Pros and Cons of the Options"),
    (2, "More Information"),
]
ADR_STATUSES = {"proposed", "accepted", "rejected", "deprecated"}
RESIDUE = re.compile(r"\bTODO\b|\bTBD\b|\bFIXME\b|\bXXX\b|lorem ipsum|\{\{|\}\}|\{%|%\}|\{#|#\}", re.IGNORECASE)

# Words that name one cloud provider's services; another cloud's document must not contain them.
CLOUD_TOKENS = {
    "aws": ["Amazon", "AWS", "EKS", "RDS", "Aurora", "ElastiCache", "MSK", "CloudFront", "CloudWatch",
            "X-Ray", "Secrets Manager", "Fargate", "ECR"],
    "gcp": ["Google Cloud", "GKE", "Cloud SQL", "Memorystore", "Cloud Storage", "Cloud CDN", "Cloud Armor",
            "Cloud Logging", "Cloud Trace", "Cloud KMS", "Secret Manager", "Artifact Registry", "AlloyDB"],
    "azure": ["Azure", "Microsoft", "AKS", "Key Vault", "Front Door", "Application Insights", "Event Hubs"],
}
CLOUD_DATABASE = {"aws": "Amazon RDS", "gcp": "Cloud SQL", "azure": "Azure Database for"}
DATABASE_TOKENS = {"postgresql": ["PostgreSQL", "postgres", "JSONB"], "mysql": ["MySQL", "mysql2", "InnoDB"]}
BROKER_LABELS = {"redis": "Redis Pub/Sub", "rabbitmq": "RabbitMQ", "nats": "NATS", "kafka": "Apache Kafka"}
OPTION_SECTIONS = ("Considered Options", "Pros and Cons of the Options")
ELEMENT_TYPE = re.compile(r"\[(Person|Container|Component|Software system|External system|Managed|Broker"
                          r"|Database|Job|Kubernetes|Pods|Run by)")
# Upper-case identifiers in code spans that are not configuration variables (gRPC status codes, GraphQL codes).
NOT_ENV_VARS = {"INVALID_ARGUMENT", "NOT_FOUND", "PERMISSION_DENIED", "BAD_REQUEST", "TOO_MANY_REQUESTS",
                "ALREADY_EXISTS", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"}  # GraphQL and gRPC codes


# ------------------------------------------------------------------------------------ Markdown


MD = MarkdownIt("commonmark").enable("table")


@dataclass
class Heading:
    level: int
    text: str
    line: int
    slug: str


def inline_text(token: Any) -> str:
    """The plain text of an inline token (code spans included, markup dropped)."""
    return "".join(child.content for child in token.children or [] if child.type in ("text", "code_inline"))


def github_slug(text: str) -> str:
    """The anchor GitHub (and markdownlint's MD051) derives from a heading's text."""
    slug = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return slug.replace(" ", "-")


def headings(text: str) -> list[Heading]:
    tokens = MD.parse(text)
    found: list[Heading] = []
    seen: dict[str, int] = {}
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            title = inline_text(tokens[index + 1])
            base = github_slug(title)
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.append(Heading(int(token.tag[1]), title, (token.map or [0])[0] + 1,
                                 base if count == 0 else f"{base}-{count}"))
    return found


def links(text: str) -> Iterator[str]:
    for token in MD.parse(text):
        if token.type == "inline":
            for child in token.children or []:
                if child.type == "link_open":
                    yield str(child.attrs.get("href", ""))


def mermaid_blocks(text: str) -> list[str]:
    return [t.content for t in MD.parse(text) if t.type == "fence" and t.info.strip() == "mermaid"]


def sections(text: str, level: int) -> dict[str, str]:
    """Heading text -> the text under it, up to the next heading of the same or a higher level."""
    lines = text.splitlines()
    marks = [h for h in headings(text) if h.level <= level]
    result: dict[str, str] = {}
    for i, heading in enumerate(marks):
        if heading.level != level:
            continue
        end = marks[i + 1].line - 1 if i + 1 < len(marks) else len(lines)
        result.setdefault(heading.text, "\n".join(lines[heading.line:end]))
    return result


DELIMITER_ROW = re.compile(r"^\|( :?-+:? \|)+$")


def table_rows(text: str) -> list[list[str]]:
    """Body rows (no header, no delimiter) of every pipe table in `text`, split into stripped cells."""
    lines = text.splitlines()
    rows = []
    for index, line in enumerate(lines):
        header = index + 1 < len(lines) and DELIMITER_ROW.match(lines[index + 1])
        if line.startswith("| ") and not DELIMITER_ROW.match(line) and not header:
            rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def front_matter(text: str) -> dict[str, Any]:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "no YAML front matter"
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict)
    return data


# ------------------------------------------------------------------------------------ a render


@dataclass
class Render:
    root: Path
    answers: dict[str, Any]
    ctx: dict[str, Any]
    doc: str
    adr_texts: dict[str, str] = field(default_factory=dict)

    @property
    def h2(self) -> dict[str, str]:
        return sections(self.doc, 2)

    def section(self, number: str) -> str:
        for title, body in self.h2.items():
            if title.startswith(f"{number}. "):
                return body
        raise AssertionError(f"no section {number}")

    def subsection(self, number: str) -> str:
        for title, body in sections(self.doc, 3).items():
            if title.startswith(f"{number} "):
                return body
        raise AssertionError(f"no subsection {number}")

    def diagram(self, marker: str) -> str:
        for block in mermaid_blocks(self.doc):
            if marker in block:
                return block
        raise AssertionError(f"no mermaid block containing {marker!r}")

    def adr(self, key: str) -> str:
        return self.adr_texts[key]

    def all_docs(self) -> dict[str, str]:
        return {str(path.relative_to(self.root)): path.read_text(encoding="utf-8")
                for path in sorted((self.root / "docs").rglob("*.md"))}


@lru_cache(maxsize=64)
def load_render(root: Path) -> Render:
    answers = load_yaml(root / ".copier-answers.yml")
    answers = {k: v for k, v in answers.items() if not k.startswith("_")}
    ctx = model.build(answers).as_context()
    adr_texts = {a["key"]: (root / ADR_DIR / a["file"]).read_text(encoding="utf-8")
                 for a in ctx["adrs"] if (root / ADR_DIR / a["file"]).exists()}
    return Render(root, answers, ctx, (root / DOC).read_text(encoding="utf-8"), adr_texts)


@pytest.fixture
def render(rendered: Path) -> Render:
    return load_render(rendered)


# ------------------------------------------------------------------------------------ the tools, once


def _lint_all(renders: dict[str, Path], base: Path) -> dict[str, Any]:
    """markdownlint-cli2 and the mermaid checker, each in one process over every render."""
    node = tool("node")
    lint = tool("markdownlint-cli2")
    report: dict[str, Any] = {"markdownlint": {name: [] for name in renders},
                              "mermaid": {name: [] for name in renders}, "blocks": {name: 0 for name in renders}}
    # Each render's own .markdownlint-cli2.yaml applies to its directory (markdownlint-cli2 reads
    # configuration files in every directory on the way to a file).
    globs = [f"{name}/docs/**/*.md" for name in renders]
    result = run([lint, *globs], cwd=base)
    for line in (result.stdout + result.stderr).splitlines():
        match = re.match(r"^([^/\s]+)/(\S+?):(\d+)(?::\d+)? (?:error |warning )?(MD\d+\S*) (.*)$", line)
        if match and match.group(1) in renders:
            report["markdownlint"][match.group(1)].append(
                f"{match.group(2)}:{match.group(3)} {match.group(4)} {match.group(5)}")
    if result.returncode not in (0, 1) or (result.returncode == 1 and not any(report["markdownlint"].values())):
        pytest.fail(f"markdownlint-cli2 failed to run (rc {result.returncode}):\n{result.stderr[-3000:]}")
    files = [str(path) for root in renders.values() for path in sorted((root / "docs").rglob("*.md"))]
    result = run([node, str(TESTS / "node" / "check-mermaid.mjs"), "--json", *files], cwd=TESTS / "node")
    if result.returncode not in (0, 1) or not result.stdout.startswith("{"):
        pytest.fail(f"check-mermaid.mjs failed to run (rc {result.returncode}):\n{result.stderr[-3000:]}")
    checked = json.loads(result.stdout)
    by_root = {str(root) + "/": name for name, root in renders.items()}
    for failure in checked["failures"]:
        name = next(n for prefix, n in by_root.items() if failure["file"].startswith(prefix))
        report["mermaid"][name].append(f"{failure['file']}:{failure['line']}: {failure['message']}")
    report["blocks_total"] = checked["blocks"]
    for name, root in renders.items():
        report["blocks"][name] = sum(len(mermaid_blocks(p.read_text(encoding="utf-8")))
                                     for p in (root / "docs").rglob("*.md"))
    return report


@pytest.fixture(scope="session")
def doc_tool_reports(renderer: Renderer, worker_id: str) -> dict[str, Any]:
    """Renders every combination (shared with the other tests) and lints all of them at once.
    Workers render from opposite ends of the matrix, so they share the work; the first worker
    to finish runs the tools, the others read its cached report."""
    cache = renderer.base / "docs-tool-report.json"
    order = COMBINATIONS if sum(map(ord, worker_id)) % 2 == 0 else list(reversed(COMBINATIONS))
    renders = {c.id: renderer.render(c.id, c.answers) for c in order}
    with FileLock(str(cache) + ".lock"):
        if cache.exists():
            report: dict[str, Any] = json.loads(cache.read_text(encoding="utf-8"))
            return report
        report = _lint_all(renders, renderer.base / "renders")
        cache.write_text(json.dumps(report), encoding="utf-8")
        return report


# ------------------------------------------------------------------------------------ structure


def test_sections_in_playbook_order(render: Render) -> None:
    found = [h.text for h in headings(render.doc) if h.level == 2]
    assert found == SECTIONS
    h1 = [h for h in headings(render.doc) if h.level == 1]
    assert len(h1) == 1 and h1[0].line == 1


def test_every_section_has_content(render: Render) -> None:
    for title, body in render.h2.items():
        prose = [line for line in body.splitlines() if line.strip() and not line.startswith("#")]
        assert len(prose) >= 2, f"section {title!r} is (nearly) empty"


def test_markdownlint_clean(render: Render, doc_tool_reports: dict[str, Any]) -> None:
    assert (render.root / ".markdownlint-cli2.yaml").is_file()
    issues = doc_tool_reports["markdownlint"][render.root.name]
    assert not issues, "markdownlint-cli2:\n" + "\n".join(issues)


def test_mermaid_blocks_parse(render: Render, doc_tool_reports: dict[str, Any]) -> None:
    failures = doc_tool_reports["mermaid"][render.root.name]
    assert not failures, "mermaid.parse() failed:\n" + "\n".join(failures)
    # The checker saw the diagrams: the document has at least the C4 levels 1 to 4, the critical
    # flow, the ER diagram and the deployment view.
    assert doc_tool_reports["blocks"][render.root.name] >= 7
    assert doc_tool_reports["blocks_total"] == sum(doc_tool_reports["blocks"].values())


def test_diagrams_follow_c4_conventions(render: Render) -> None:
    # One colour key for every flowchart, in the platform conventions (C17): it shows each class a
    # diagram of the document uses, with the same style.
    conventions = (render.root / "docs/architecture/platform-conventions.md").read_text(encoding="utf-8")
    key = next(b for b in mermaid_blocks(conventions) if "Key of the architecture diagrams" in b)
    key_styles = dict(re.findall(r"^\s*classDef (\w+) (.+?)\s*$", key, re.M))
    assert set(re.findall(r":::(\w+)", key)) == set(key_styles), "a key entry without its style, or a style unshown"
    assert "platform-conventions.md#c17-diagram-notation" in render.doc
    for block in mermaid_blocks(render.doc):
        assert re.match(r"^---\ntitle: ", block), f"diagram without a title:\n{block[:200]}"
        if block.split("---\n", 2)[-1].startswith("flowchart"):
            styles = dict(re.findall(r"^\s*classDef (\w+) (.+?)\s*$", block, re.M))
            assert styles.items() <= key_styles.items(), f"classes not in the key, or styled otherwise: {styles}"
            for edge in re.findall(r"-\.?->(\|[^|]*\|)?", block):
                assert edge, f"unlabelled arrow in:\n{block}"
            assert "<->" not in block, "bidirectional arrow"
            used = set(re.findall(r":::(\w+)", block)) | set(re.findall(r"^\s*class \S+ (\w+)", block, re.M))
            defined = set(re.findall(r"^\s*classDef (\w+)", block, re.M))
            assert used <= defined, f"classes without a classDef: {sorted(used - defined)}"
            assert defined <= used, f"classDefs no element uses: {sorted(defined - used)}"
            for label in re.findall(r'\["([^"]*)"\]', block):
                if "<br/>" in label:
                    assert ELEMENT_TYPE.search(label), f"element without a type: {label}"


def test_relative_links_and_anchors_resolve(render: Render) -> None:
    problems = []
    anchors: dict[Path, set[str]] = {}
    for path in sorted((render.root / "docs").rglob("*.md")):
        for href in links(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", href):
                continue
            target_part, _, fragment = href.partition("#")
            target = (path.parent / target_part).resolve() if target_part else path
            if not target.is_file():
                problems.append(f"{path.relative_to(render.root)}: {href} (no such file)")
                continue
            if fragment:
                if target not in anchors:
                    anchors[target] = {h.slug for h in headings(target.read_text(encoding="utf-8"))}
                if fragment not in anchors[target]:
                    problems.append(f"{path.relative_to(render.root)}: {href} (no such anchor)")
    assert not problems, "\n".join(problems)


def test_no_placeholders_or_unrendered_jinja(render: Render) -> None:
    problems = []
    for name, text in render.all_docs().items():
        if name.endswith("adr-template.md"):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if RESIDUE.search(line):
                problems.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not problems, "\n".join(problems)


def test_references_to_the_registers_name_an_entry_they_hold(render: Render) -> None:
    """A sentence that points at Appendix A or B names a question or risk the appendix lists, never the
    appendix alone (a risk the answers dropped would leave it dangling)."""
    risks = set(re.findall(r"^\| (R-\d+) \|", render.doc, flags=re.MULTILINE))
    questions = set(re.findall(r"^\| (Q-\d+) \|", render.doc, flags=re.MULTILINE))
    for name, text in render.all_docs().items():
        assert "(Appendix B)" not in text and "(Appendix A)" not in text, f"{name}: a bare appendix reference"
        for ident in re.findall(r"\[(R-\d+)\]\(#appendix-b", text):
            assert ident in risks, f"{name}: {ident} is not in Appendix B"
        for ident in re.findall(r"\[(Q-\d+)\]\(#appendix-a", text):
            assert ident in questions, f"{name}: {ident} is not in Appendix A"


# ------------------------------------------------------------------------------------ facts (data-driven)


def text_outside_option_sections(text: str) -> str:
    """An ADR without its 'Considered Options' and 'Pros and Cons' sections."""
    kept, skipping = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            skipping = line[3:].strip() in OPTION_SECTIONS
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def occurrences(word: str, text: str) -> list[str]:
    pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")
    return [line.strip()[:140] for line in text.splitlines() if pattern.search(line)]


def _only_in_option_sections(words: list[str], adr_key: str) -> Callable[[Render], list[str]]:
    def check(r: Render) -> list[str]:
        problems = []
        for name, text in r.all_docs().items():
            if name.endswith("adr-template.md"):
                continue
            if any(a["key"] == adr_key and name.endswith(a["file"]) for a in r.ctx["adrs"]):
                text = text_outside_option_sections(text)
            for word in words:
                problems += [f"{name}: {word!r} in: {line}" for line in occurrences(word, text)]
        return problems
    return check


def _contains(where: Callable[[Render], str], *needles: str) -> Callable[[Render], list[str]]:
    def check(r: Render) -> list[str]:
        text = where(r)
        return [f"missing {needle!r}" for needle in needles if needle not in text]
    return check


def _absent(where: Callable[[Render], str], *needles: str) -> Callable[[Render], list[str]]:
    def check(r: Render) -> list[str]:
        text = where(r)
        return [f"unexpected {needle!r}: {occurrences(needle, text)[:2]}" for needle in needles
                if occurrences(needle, text)]
    return check


def _everywhere(r: Render) -> str:
    return "\n".join(text for name, text in r.all_docs().items() if not name.endswith("adr-template.md"))


def _doc(r: Render) -> str:
    return r.doc


def _row_present(section: str, *cells: str) -> Callable[[Render], list[str]]:
    def check(r: Render) -> list[str]:
        for row in table_rows(r.subsection(section)):
            if all(any(cell in c for c in row) for cell in cells):
                return []
        return [f"no row in section {section} with {cells}"]
    return check


def _l2_containers(r: Render) -> list[str]:
    """Names (first label line) of the NestJS containers in the level 2 diagram."""
    block = r.diagram("(C4 level 2")
    return [label.split("<br/>")[0] for label in re.findall(r'\["([^"]*\[Container: NestJS[^"]*)"\]', block)]


def check_l2_one_container_per_service(r: Render) -> list[str]:
    names = _l2_containers(r)
    expected = [s["name"] for s in r.ctx["services"]]
    problems = [] if names == expected else [f"L2 NestJS containers {names} != services {expected}"]
    block = r.diagram("(C4 level 2")
    for service in r.ctx["services"]:
        if f'("{service["database"]}<br/>' not in block:
            problems.append(f"no database container {service['database']!r} for {service['name']}")
    return problems


def check_l2_infrastructure(r: Render) -> list[str]:
    block = r.diagram("(C4 level 2")
    problems = []
    if (r.ctx["artifacts"]["redis"]) != ("Redis<br/>[Container: Redis" in block):
        problems.append("Redis container present iff cache or Redis Pub/Sub")
    broker = r.answers["message_broker"]
    if broker not in ("none", "redis") and f"[Container: {r.ctx['broker_info']['label']}" not in block:
        problems.append(f"no {broker} container in L2")
    for other, label in BROKER_LABELS.items():
        if other != broker and other != "redis" and label in block:
            problems.append(f"L2 shows {label} although the broker is {broker}")
    db = r.ctx["database_info"]["label"]
    if f"[Container: {db} {r.ctx['database_info']['server']['line']} database]" not in block:
        problems.append(f"no {db} container in L2")
    return problems


def check_l1_external_systems(r: Render) -> list[str]:
    block = r.diagram("(C4 level 1")
    return [f"L1 lacks {ext['name']!r}" for ext in r.ctx["profile"]["external_systems"]
            if f'["{escaping.mermaid_text(ext["name"])}<br/>' not in block]


def check_l3_modules(r: Render) -> list[str]:
    block = r.diagram("(C4 level 3")
    shown = r.ctx["modules"] if not r.ctx["artifacts"]["microservices"] else r.ctx["modules"][:1]
    return [f"L3 lacks {m['pascal']}Module" for m in shown if f'["{m["pascal"]}Module<br/>' not in block]


def check_stack_versions(r: Render) -> list[str]:
    """Every version in the section 4 table equals the stack manifest's (and package.json's)."""
    stack, node = r.ctx["stack"], r.ctx["node"]
    images = {image["name"]: image["tag"] for image in stack["images"].values()}
    npm = {**stack["npm"]["runtime"], **stack["npm"]["dev"]}
    rows = [row for row in table_rows(r.section("4")) if len(row) == 6]
    problems, packages = [], []
    for layer, _choice, package, version, _purpose, _adr in rows:
        name, value = package.strip("`"), version.strip("`")
        if layer == "Runtime":
            expected = node["version"]
        elif layer == "Build image":
            expected = node["build_image"].split(":", 1)[1]
        elif layer == "Runtime image":
            expected = node["runtime_image"].split(":", 1)[1]
        elif name in npm:
            expected = npm[name]
            packages.append(name)
        elif name in images:
            expected = images[name]
        else:
            problems.append(f"{name}: not in the stack manifest")
            continue
        if value != expected:
            problems.append(f"{name}: {value} != manifest {expected}")
    for required in ("@nestjs/core", "typescript", r.ctx["database_info"]["driver"]):
        if required not in packages:
            problems.append(f"section 4 lacks {required}")
    manifest = r.root / "package.json"
    if r.answers["include_app"]:
        declared = json.loads(manifest.read_text(encoding="utf-8"))
        deps = {**declared.get("dependencies", {}), **declared.get("devDependencies", {})}
        problems += [f"{name} is in section 4 but not in package.json" for name in packages if name not in deps]
        problems += [f"{name}: package.json {deps[name]} != section 4 {npm[name]}" for name in packages
                     if name in deps and deps[name] != npm[name]]
    return problems


def check_cloud(r: Render) -> list[str]:
    cloud = r.answers["cloud"]
    problems = []
    forbidden = [token for other, tokens in CLOUD_TOKENS.items() if other != cloud for token in tokens]
    problems += _only_in_option_sections(forbidden, "cloud-runtime")(r)
    if cloud in CLOUD_DATABASE and CLOUD_DATABASE[cloud] not in r.subsection("11.5"):
        problems.append(f"section 11.5 does not name {CLOUD_DATABASE[cloud]}")
    return problems


def check_api_sections(r: Render) -> list[str]:
    titles = [h.text for h in headings(r.section("9")) if h.level == 3]
    styles = [answer_labels()["api_styles"][s] for s in r.answers["api_styles"]]
    expected = [s for s in ("REST", "GraphQL", "gRPC", "WebSocket") if s in styles]
    found = [t.split(" ", 1)[1] for t in titles[1:]]
    return [] if found == expected else [f"API subsections {found} != {expected}"]


def check_env_vars(r: Render) -> list[str]:
    names = {v["name"] for v in r.ctx["env_vars"]}
    quoted = set(re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", r.doc))
    problems = [f"`{n}` is not a variable of the app's configuration" for n in sorted(quoted - names - NOT_ENV_VARS)]
    config = r.subsection("11.7")
    problems += [f"{n} missing from section 11.7" for n in sorted(names) if f"`{n}`" not in config]
    return problems


def check_npm_scripts(r: Render) -> list[str]:
    used = set(re.findall(r"`npm run ([\w:-]+)`", _everywhere(r)))
    return [f"npm run {s} is not a script of package.json" for s in sorted(used - set(r.ctx["npm_scripts"]))]


def check_health_paths(r: Render) -> list[str]:
    # an HTTP path, not a source directory such as `src/platform/health/`
    bad = re.findall(r"(?<![\w.-])/health(?!/live|/ready)\S*", _everywhere(r))
    return [f"unknown health path {b}" for b in bad]


def check_questions(r: Render) -> list[str]:
    rows = table_rows(r.section("Appendix A"))
    problems = [f"row {i}: {row[0]}" for i, row in enumerate(rows, 1) if row[0] != f"Q-{i:02d}" or not row[3]]
    cited = set(re.findall(r"\[Q-(\d\d)\]", r.doc))
    problems += [f"Q-{q} cited but not listed" for q in sorted(cited) if int(q) > len(rows)]
    return problems


def check_adr_index_in_doc(r: Render) -> list[str]:
    rows = table_rows(r.section("15"))
    expected = [[f"[ADR-{a['id']}](../adr/{a['file']})", escaping.md_text(a["title"]), a["status"], a["generated"]]
                for a in r.ctx["adrs"]]
    return [] if rows == expected else [f"section 15 index {rows} != {expected}"]


def check_no_compliance_claim(r: Render) -> list[str]:
    text = _everywhere(r)
    return [f"claims compliance: {line}" for line in occurrences("compliant", text)] + \
           [f"claims compliance: {line}" for line in occurrences("compliance is achieved", text)]


def check_kafka_consumer(r: Render) -> list[str]:
    """The consumer settings section 10 states are the generated Kafka options."""
    problems = _contains(lambda rr: rr.section("10"), "oldest retained event", "after 15 s")(r)
    if r.answers["include_app"]:
        options = (platform_dir(r) / "messaging" / "broker-options.ts").read_text(encoding="utf-8")
        problems += [f"broker-options.ts lacks {needle}" for needle in ("fromBeginning: true", "sessionTimeout: 15_000")
                     if needle not in options]
    return problems


# (name, applies to these answers, check -> list of problems)
FACTS: list[tuple[str, Callable[[dict[str, Any]], bool], Callable[[Render], list[str]]]] = [
    ("mysql: PostgreSQL only among the database ADR's options",
     lambda a: a["database"] == "mysql", _only_in_option_sections(DATABASE_TOKENS["postgresql"], "database")),
    ("postgresql: MySQL only among the database ADR's options",
     lambda a: a["database"] == "postgresql", _only_in_option_sections(DATABASE_TOKENS["mysql"], "database")),
    ("HIPAA: the §164.312(b) audit controls row",
     lambda a: "hipaa" in a["compliance"], _row_present("7.9", "§164.312(b) Audit controls", "Proposed")),
    ("HIPAA: documentation retention cited correctly",
     lambda a: "hipaa" in a["compliance"], _row_present("7.9", "§164.316(b)(2)(i)", "6 years")),
    ("no HIPAA: no HIPAA checklist", lambda a: "hipaa" not in a["compliance"],
     _absent(_doc, "164.312", "HIPAA Security Rule (45")),
    ("PCI DSS: SAD not retained, 3.3.1", lambda a: "pci-dss" in a["compliance"],
     _row_present("7.9", "3.3.1 Sensitive authentication data", "even if encrypted")),
    ("PCI DSS: PAN unreadable including logs, 3.5.1", lambda a: "pci-dss" in a["compliance"],
     _row_present("7.9", "3.5.1 PAN rendered unreadable", "logs and backups")),
    ("PCI DSS: audit log retention 10.5.1", lambda a: "pci-dss" in a["compliance"],
     _row_present("7.9", "10.5.1", "12 months")),
    ("PCI DSS: MFA rows cite 8.4.1 and 8.4.2 as non-console access", lambda a: "pci-dss" in a["compliance"],
     _row_present("7.9", "8.4.1 MFA for all non-console administrative access", "8.4.2 MFA for all non-console access")),
    ("PCI DSS: 10.2.1 refined by 10.2.1.1-10.2.1.7", lambda a: "pci-dss" in a["compliance"],
     _row_present("7.9", "10.2.1.1–10.2.1.7", "access to audit logs")),
    ("no PCI DSS: no PCI checklist", lambda a: "pci-dss" not in a["compliance"],
     _absent(_doc, "#### PCI DSS v4.0.1", "3.3.1")),
    ("SOX: ITGC with the 7-year rule attributed to auditors", lambda a: "sox" in a["compliance"],
     _contains(lambda r: r.subsection("7.9"), "Segregation of duties", "17 CFR 210.2-06")),
    ("GDPR: breach notice within 72 hours and erasure", lambda a: "gdpr" in a["compliance"],
     _contains(lambda r: r.subsection("7.9"), "Art. 33", "72 hours", "Art. 17")),
    ("media: the delivery checklist", lambda a: a["industry"] == "media",
     _contains(lambda r: r.subsection("7.9"), "Media delivery checklist", "RFC 9110", "RFC 8216")),
    ("never claims compliance", lambda a: True, check_no_compliance_claim),
    ("monolith or modular monolith: no saga", lambda a: a["architecture"] != "microservices",
     _absent(_everywhere, "saga", "Saga", "sagas", "Sagas")),
    ("microservices: sagas described", lambda a: a["architecture"] == "microservices",
     _contains(lambda r: r.subsection("10.5"), "saga", "compensat")),
    ("L2: one NestJS container per service, by name, each with its database",
     lambda a: True, check_l2_one_container_per_service),
    ("L2: database, cache and broker as answered", lambda a: True, check_l2_infrastructure),
    ("L1: the industry's external systems", lambda a: True, check_l1_external_systems),
    ("L3: every module of the core container", lambda a: True, check_l3_modules),
    ("section 4: versions equal the stack manifest and package.json", lambda a: True, check_stack_versions),
    ("cloud: only the chosen provider's services", lambda a: True, check_cloud),
    ("on-prem: no managed-service table", lambda a: a["cloud"] == "on-prem",
     _contains(lambda r: r.subsection("11.5"), "on-premises Kubernetes platform")),
    ("API: one subsection per chosen style", lambda a: True, check_api_sections),
    ("no broker: in-process events and the trigger for a broker", lambda a: a["message_broker"] == "none",
     _contains(lambda r: r.subsection("10.3"), "no message broker", "Add a broker")),
    ("kafka: the consumer group settings of the generated options", lambda a: a["message_broker"] == "kafka",
     check_kafka_consumer),
    ("broker: its delivery semantics and the outbox", lambda a: a["message_broker"] != "none",
     _contains(lambda r: r.section("10"), "sequenceDiagram", "Transactional outbox")),
    ("broker with the app: publishing is at least once through the built outbox",
     lambda a: a["message_broker"] != "none" and a["include_app"],
     _contains(lambda r: r.section("10"), "Publishing is **at least once**", "`OutboxRelay` publishes")),
    ("oidc: issuer URL, no shared secret", lambda a: a["auth"] == "oidc", _absent(_doc, "JWT_SECRET")),
    ("jwt: shared secret, no issuer URL", lambda a: a["auth"] == "jwt", _absent(_doc, "OIDC_ISSUER_URL")),
    ("configuration names are the app's", lambda a: True, check_env_vars),
    ("npm run commands exist in package.json", lambda a: True, check_npm_scripts),
    ("health endpoints are /health/live and /health/ready", lambda a: True, check_health_paths),
    ("SLO answers in the success metrics", lambda a: True,
     lambda r: _contains(lambda rr: rr.subsection("1.3"), f"{r.ctx['slo']['availability']} %",
                         f"{r.answers['p95_latency_ms']} ms", f"{r.answers['coverage_threshold']} %")(r)),
    ("github CI: the workflows", lambda a: a["ci"] == "github",
     _contains(lambda r: r.subsection("14.3"), "`ci.yml`", "`release.yml`", "`security.yml`")),
    ("gitlab CI: .gitlab-ci.yml", lambda a: a["ci"] == "gitlab",
     _contains(lambda r: r.subsection("14.3"), "`.gitlab-ci.yml`", "`renovate.json`")),
    ("no CI: says so, names no CI file", lambda a: a["ci"] == "none",
     lambda r: _contains(lambda rr: rr.subsection("14.3"), "No CI is generated")(r)
     + _absent(_doc, "ci.yml", ".gitlab-ci.yml")(r)),
    ("gateway-api: HTTPRoute", lambda a: a["ingress"] == "gateway-api", _contains(_doc, "HTTPRoute")),
    ("not gateway-api: no HTTPRoute", lambda a: a["ingress"] != "gateway-api", _absent(_doc, "HTTPRoute")),
    ("istio: mesh section", lambda a: a["service_mesh"] == "istio",
     _contains(lambda r: r.subsection("11.6"), "Istio", "STRICT")),
    ("linkerd: mesh section", lambda a: a["service_mesh"] == "linkerd",
     _contains(lambda r: r.subsection("11.6"), "Linkerd")),
    ("no mesh: no mesh named", lambda a: a["service_mesh"] == "none", _absent(_doc, "Istio", "Linkerd")),
    ("cqrs: the CQRS buses", lambda a: bool(a["cqrs"]),
     _contains(lambda r: r.subsection("5.3"), "CommandBus", "EventBus")),
    ("no cqrs: not used", lambda a: not a["cqrs"], _contains(lambda r: r.subsection("5.3"), "CQRS is not used")),
    ("HTTP adapter: its platform package only", lambda a: True,
     lambda r: _contains(lambda rr: rr.section("4"), f"@nestjs/platform-{r.answers['http_adapter']}")(r)
     + _absent(lambda rr: rr.section("4"), "@nestjs/platform-"
               + ("express" if r.answers["http_adapter"] == "fastify" else "fastify"))(r)),
    ("include_app false: the contract is an open question", lambda a: not a["include_app"],
     _contains(_doc, "Existing application contract", "not generated")),
    ("open questions numbered, each with an owner", lambda a: True, check_questions),
    ("section 15 lists every ADR", lambda a: True, check_adr_index_in_doc),
    ("coverage answer in the testing section", lambda a: True,
     lambda r: _contains(lambda rr: rr.subsection("12.1"), f"**{r.answers['coverage_threshold']} %**")(r)),
]


def test_facts_agree_with_answers(render: Render) -> None:
    failures = []
    for name, applies, check in FACTS:
        if applies(render.answers):
            failures += [f"{name}: {problem}" for problem in check(render)]
    assert not failures, "\n".join(failures)


def test_every_fact_applies_to_some_combination() -> None:
    """A fact no combination of the matrix exercises would be a check that never runs."""
    questions = {name: spec.get("default") for name, spec in load_yaml(REPO / "copier.yml").items()
                 if not name.startswith("_")}
    effective = []
    for combo in COMBINATIONS:
        answers = {**questions, **combo.answers}
        industry = answers["industry"]
        profile = data.industry_profile(industry)
        if "compliance" not in combo.answers:
            answers["compliance"] = profile["compliance"]
        effective.append(answers)
    for name, applies, _check in FACTS:
        assert any(applies(a) for a in effective), f"no combination exercises {name!r}"


# ------------------------------------------------------------------------------------ the ADR folder


def test_adr_files_index_and_numbers(render: Render) -> None:
    folder = render.root / ADR_DIR
    records = sorted(p.name for p in folder.glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert records == [a["file"] for a in render.ctx["adrs"]]
    numbers = [int(name[:4]) for name in records]
    assert numbers == list(range(1, len(numbers) + 1)), "ADR numbers are not contiguous from 0001"
    assert {p.name for p in folder.iterdir()} == {*records, "README.md", "adr-template.md"}
    index = (folder / "README.md").read_text(encoding="utf-8")
    listed = [re.match(r"\[(\d{4})\]\(([^)]+)\)", row[0]) for row in table_rows(index)]
    assert all(listed), "every index row links a record"
    assert [m.group(2) for m in listed if m] == records
    assert [m.group(1) for m in listed if m] == [name[:4] for name in records]


def test_adrs_have_madr_structure(render: Render) -> None:
    for a in render.ctx["adrs"]:
        text = (render.root / ADR_DIR / a["file"]).read_text(encoding="utf-8")
        meta = front_matter(text)
        assert meta["status"] == a["status"] and meta["status"] in ADR_STATUSES, a["file"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(meta["date"])), a["file"]
        if a["status"] == "accepted":
            assert meta["decision-makers"] == [render.answers["owner"]], a["file"]
        found = [(h.level, h.text) for h in headings(text) if h.level > 1]
        structure = [h for h in found if h in MADR_HEADINGS]
        assert structure == MADR_HEADINGS, f"{a['file']}: {structure}"
        title = [h for h in headings(text) if h.level == 1]
        assert len(title) == 1 and title[0].text == a["title"], a["file"]
        body = sections(text, 2)
        options = [line[2:] for line in body["Considered Options"].splitlines() if line.startswith("* ")]
        assert len(options) >= 2, f"{a['file']}: fewer than two considered options"
        outcome = body["Decision Outcome"]
        assert re.search(r'Chosen option: "[^"]+", because \S', outcome), a["file"]
        confirmation = sections(text, 3)["Confirmation"].strip()
        assert len(confirmation) > 40, f"{a['file']}: empty Confirmation"
    template = (render.root / ADR_DIR / "adr-template.md").read_text(encoding="utf-8")
    assert [(h.level, h.text) for h in headings(template) if (h.level, h.text) in MADR_HEADINGS] == MADR_HEADINGS


def test_adr_options_are_the_question_choices(render: Render) -> None:
    """Considered options of an answered decision are the other values of the same question."""
    questions = {"architecture-style": "architecture", "database": "database", "messaging": "message_broker",
                 "cloud-runtime": "cloud", "http-adapter": "http_adapter", "authentication": "auth",
                 "api-styles": "api_styles", "compliance-baseline": "compliance"}
    for key, question in questions.items():
        options = [line[2:] for line in sections(render.adr(key), 2)["Considered Options"].splitlines()
                   if line.startswith("* ")]
        assert options == list(answer_labels()[question].values()), f"{key}: {options}"


# ------------------------------------------------------------------------------------ the code agrees


def platform_dir(r: Render) -> Path:
    return r.root / ("libs" if r.ctx["artifacts"]["microservices"] else "src") / "platform"


def test_document_matches_generated_code(render: Render) -> None:
    """Where the document names code (metric, buckets, guards, routes, API styles), the code has it."""
    if not render.answers["include_app"]:
        assert not (render.root / "src").exists() and not (render.root / "apps").exists()
        return
    platform = platform_dir(render)
    metrics = (platform / "metrics" / "metrics.service.ts").read_text(encoding="utf-8")
    telemetry = render.ctx["telemetry"]
    assert f"'{telemetry['http_duration_histogram']}'" in metrics
    label_names = re.search(r"labelNames: \[([^\]]*)\]", metrics)
    assert label_names, "no labelNames in metrics.service.ts"
    assert sorted(re.findall(r"'([^']+)'", label_names.group(1))) == sorted(telemetry["http_labels"])
    buckets = re.search(r"buckets: \[([^\]]*)\]", metrics)
    assert buckets, "no histogram buckets in metrics.service.ts"
    code_buckets = [float(b) for b in buckets.group(1).split(",")]
    assert code_buckets == telemetry["http_buckets"], (
        f"the app's histogram buckets {code_buckets} lack the p95 objective the document and the "
        f"LatencyObjectiveMissed alert rely on: {telemetry['http_buckets']}")
    bootstrap = (platform / "http" / "bootstrap.ts").read_text(encoding="utf-8")
    assert "setGlobalPrefix('api'" in bootstrap and "defaultVersion: '1'" in bootstrap
    assert "['health/ready', 'metrics']" in bootstrap
    liveness = (platform / "health" / "liveness.ts").read_text(encoding="utf-8")
    assert "LIVENESS_PATH = '/health/live'" in liveness and "registerLiveness(app);" in bootstrap
    guards = (platform / "platform.module.ts").read_text(encoding="utf-8")
    throttler = "PlatformThrottlerGuard" if "useClass: PlatformThrottlerGuard" in guards else "ThrottlerGuard"
    order = [guards.index(f"useClass: {guard}") for guard in (throttler, "AuthGuard", "RolesGuard")]
    assert order == sorted(order), "the global guards no longer run rate limit, authentication, roles"
    first = render.ctx["modules"][0]
    module_dir = render.root / first["path"]
    controller = module_dir / "interface" / f"{first['slug']}.controller.ts"
    # REST controllers exactly when REST is chosen (no OpenAPI document either without them)
    assert controller.exists() == ("rest" in render.answers["api_styles"])
    assert (platform / "http" / "swagger.ts").exists() == ("rest" in render.answers["api_styles"])
    if controller.exists():
        text = controller.read_text(encoding="utf-8")
        assert f"@Controller('{first['slug']}')" in text and "@Roles('admin')" in text
    source = "\n".join(p.read_text(encoding="utf-8") for p in render.root.rglob("*.ts")
                       if "node_modules" not in p.parts)
    # The document says which API styles the app implements (features.py GENERATED_API_STYLES, read by
    # includes/doc/macros.jinja `implemented`): the code holds a style's marker exactly when it says so.
    built = set(render.ctx["api_styles_generated"])
    markers = {"graphql": ("GraphQLModule",), "websocket": ("@WebSocketGateway",),
               "grpc": ("Transport.GRPC", "@GrpcMethod")}
    for style, names in markers.items():
        for marker in names:
            assert (marker in source) == (style in built), (
                f"the app {'lacks' if style in built else 'contains'} {marker} while the document says "
                f"{style} is {'' if style in built else 'not '}generated")


# ------------------------------------------------------------------------------------ golden files


@pytest.mark.parametrize("example", EXAMPLES, ids=[c.id for c in EXAMPLES])
def test_golden_document(renderer: Renderer, example: Combination, request: pytest.FixtureRequest) -> None:
    text = (renderer.render(example.id, example.answers) / DOC).read_text(encoding="utf-8")
    golden = GOLDEN / f"{example.id.removeprefix('example-')}.md"
    if request.config.getoption("--update-golden"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
        return
    assert golden.exists(), f"{golden} is missing; run pytest tests/test_docs.py --update-golden"
    expected = golden.read_text(encoding="utf-8")
    if text != expected:
        import difflib
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            str(golden.relative_to(REPO)), "rendered", n=1))
        pytest.fail(f"the rendered document differs from {golden.name} "
                    f"(run with --update-golden if the change is intended):\n{diff[:6000]}")


# ------------------------------------------------------------------------------------ derived values


def test_choice_labels_match_copier_yml() -> None:
    questions = load_yaml(REPO / "copier.yml")
    for name, labels in answer_labels().items():
        choices = questions[name]["choices"]
        expected = {(c["value"] if isinstance(c, dict) else c): label for label, c in choices.items()}
        assert labels == {str(k): v for k, v in expected.items()}, name


def test_slo_and_telemetry_derivations() -> None:
    base = {"slo_availability": 99.95, "p95_latency_ms": 150, "coverage_threshold": 85}
    slo = objectives.slo(base)
    assert slo["availability"] == "99.95" and slo["error_budget_percent"] == "0.05"
    assert slo["budget_minutes"] == "21.6" and slo["p95_seconds"] == "0.15" and slo["coverage"] == 85
    assert objectives.slo({**base, "slo_availability": 99.0})["availability"] == "99"
    buckets = objectives.telemetry(base)["http_buckets"]
    assert 0.15 in buckets and buckets == sorted(buckets)
    assert objectives.telemetry({**base, "p95_latency_ms": 250})["http_buckets"].count(0.25) == 1


def test_cloud_services_name_only_the_chosen_cloud() -> None:
    answers = {"cloud": "gcp", "database": "mysql", "message_broker": "rabbitmq"}
    services = model.cloud_services(answers)
    assert services is not None
    assert services["database"] == "Cloud SQL for MySQL" and services["broker"] is None
    assert model.cloud_services({**answers, "cloud": "on-prem"}) is None
    for cloud in CLOUD_TOKENS:
        values = json.dumps(data.load_data("clouds")[cloud]["services"])
        for other, other_tokens in CLOUD_TOKENS.items():
            if other != cloud:
                assert not [t for t in other_tokens if re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", values)]


def test_decision_date_honours_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert model.decision_date() == "2026-01-01"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", model.decision_date())


def test_mermaid_text_escapes_label_breakers() -> None:
    assert escaping.mermaid_text('Shop: "A" & <B> #1; [x] (y) {z} |') == \
        "Shop: #34;A#34; & #60;B#62; #35;1#59; #91;x#93; #40;y#41; #123;z#125; #124;"


def test_npm_dependencies_match_package_json(renderer: Renderer) -> None:
    for combo in COMBINATIONS:
        root = renderer.render(combo.id, combo.answers)
        if not (root / "package.json").exists():
            continue
        answers = {k: v for k, v in load_yaml(root / ".copier-answers.yml").items() if not k.startswith("_")}
        declared = json.loads((root / "package.json").read_text(encoding="utf-8"))
        expected = contract.npm_dependencies(answers)
        assert declared["dependencies"] == expected["runtime"], combo.id
        assert declared["devDependencies"] == expected["dev"], combo.id
