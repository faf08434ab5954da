"""The package's structure: no import cycles, one definition of each shared constant,
nothing cited from outside the repository."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "workflow" / "irnoise"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node but those under `if TYPE_CHECKING:` (annotations only: never imported)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            skipped |= {id(child) for stmt in node.body for child in ast.walk(stmt)}
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def imports_of(path: Path) -> set[str]:
    """irnoise modules a module imports when it runs, at any level (function-local imports
    included, imports for type annotations only left out)."""
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith("irnoise")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the irnoise modules it imports. An import of an enclosing package is left
    out: `from irnoise.data.datasets import base` names the package, but Python has
    initialised it before any of its modules runs, so it adds no dependency."""
    modules = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {
        name: {
            imported
            for imported in imports_of(path) & set(modules)
            if imported != name and not name.startswith(f"{imported}.")
        }
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a list of modules, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for successor in sorted(graph[node]):
            if state.get(successor) == 1:
                return [*path[path.index(successor) :], successor]
            if successor not in state and (cycle := visit(successor)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert find_cycle(graph) is None
    assert graph["irnoise.data.datasets.base"] <= {"irnoise.data.datasets.recordio"}
    assert "irnoise.data.datasets.base" not in graph["irnoise.data.datasets.annotation_files"]


def test_the_tar_block_is_defined_once() -> None:
    definitions = [
        path
        for path in PACKAGE.rglob("*.py")
        if re.search(r"^TAR_BLOCK\s*=", path.read_text(), re.M)
    ]
    assert definitions == [PACKAGE / "data" / "ustar.py"]


# What the repository must not cite: an issue tracker (the code and its documents stand
# on their own) or a document outside the repository.
TRACKER_CITATIONS = re.compile(
    r"\bissues?\s+#?\d+|\bthe issue\b|\bissue's\b|\bPR\s+#?\d+|\bpull request\b"
    r"|(?<![\w&/#])#\d+\b",
    re.IGNORECASE,
)
OUTSIDE_CITATIONS = re.compile(
    r"\.\./shared|DESIGN\.md|CONTRACT\.md|\bDESIGN's\b|\bCONTRACT\b|(?<![\w/.])seeds/"
)
TEXT_SUFFIXES = {".py", ".smk", ".md", ".yaml", ".yml", ".rst", ".toml", ".sh", ".cfg"}


def text_files() -> list[Path]:
    """Every text file of the checkout that git tracks or would track (new files count
    before they are committed), this file excepted: it spells the patterns out."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    paths = [REPO / name for name in listed]
    return [
        path
        for path in paths
        if path.is_file()
        and path != Path(__file__)
        and (path.suffix in TEXT_SUFFIXES or path.name == "Snakefile" or ".ci" in path.parts)
    ]


def citations(text: str) -> list[str]:
    return [m.group(0) for p in (TRACKER_CITATIONS, OUTSIDE_CITATIONS) for m in p.finditer(text)]


def test_the_citation_patterns() -> None:
    cited = [
        "calibrated in issue 9",
        "(issue #12)",
        "see issues 3 and 4",
        "as the issue asks",
        "the issue's author",
        "fixed in #12",
        "PR 7",
        "../shared/data/",
        "DESIGN.md",
        "CONTRACT",
        "seeds/0042.md",
    ]
    assert [text for text in cited if not citations(text)] == []
    fine = [
        "docs/design.md",
        "cleanlab's find_label_issues flags the issues",
        "#!/usr/bin/env bash",
        "x-small-cpu-model: &small_cpu_model",
        "seed<seed>.npy, seeds: [0, 1, 2]",
        "a shared file system",
        "color: #fff",
    ]
    assert [text for text in fine if citations(text)] == []


def test_nothing_cites_an_issue_tracker_or_documents_outside_the_repository() -> None:
    files = text_files()
    assert REPO / "README.md" in files and REPO / "Snakefile" in files
    assert REPO / "config.yaml" in files and REPO / "workflow" / "irnoise" / "cli.py" in files
    citing = {
        str(path.relative_to(REPO)): found
        for path in files
        if (found := citations(path.read_text(errors="replace")))
    }
    assert citing == {}


def test_documents_cited_in_the_code_exist() -> None:
    cited = set()
    for path in [*PACKAGE.rglob("*.py"), *(REPO / "tests").rglob("*.py")]:
        cited |= set(re.findall(r"\bdocs/[\w/.-]+\.md", path.read_text()))
    assert cited, "the code cites its design documents"
    assert [name for name in sorted(cited) if not (REPO / name).is_file()] == []


def test_one_post_deploy_script_serves_every_conda_env() -> None:
    """Snakemake looks for envs/<env>.post-deploy.sh beside each env file."""
    envs = REPO / "envs"
    scripts = {(envs / f"{env.stem}.post-deploy.sh").resolve() for env in envs.glob("*.yaml")}
    assert scripts == {envs / "install-irnoise.sh"}
    script = (envs / "install-irnoise.sh").read_text()
    assert "--no-deps" in script and "--editable" in script


BRITISH = re.compile(r"neighbour|centre|colour", re.IGNORECASE)


def test_one_spelling_as_pytorch_metric_learning_spells_it() -> None:
    """neighbor, center, color: the spelling of the libraries the code calls."""
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for path in text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if BRITISH.search(line) and path != Path(__file__)
    ]
    assert not found, "British spelling in: " + ", ".join(found)
