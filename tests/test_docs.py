"""The README and the docs link only to files that exist, and the architecture page names
every module (oracle: the checkout itself)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")  # [text](target#anchor), ![alt](image)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_local_link_and_image_exists(page):
    targets = [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+://", t)]
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name} links to missing files: {missing}"


def test_architecture_page_names_every_module():
    page = (ROOT / "docs" / "architecture.md").read_text()
    package = ROOT / "lava_diffpc"
    modules = [p.relative_to(package) for p in package.rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py") and p.parent.name != "commands"
               and p.parent.parent.name != "proc"]
    unnamed = [str(m) for m in modules if str(m) not in page]
    assert not unnamed, f"docs/architecture.md does not name {unnamed}"
