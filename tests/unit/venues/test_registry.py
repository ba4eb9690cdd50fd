"""The venue registry: one spec per venue, read by settings, simulators, scenarios and the docs."""

from __future__ import annotations

import re
from pathlib import Path

from monitor.settings import load_settings
from monitor.sim.encode import encoder
from monitor.sim.protocols import protocol_for
from monitor.venues.registry import SPECS, VENUES, adapter_class, venue_table

# The one list of venue modules, and the scenario catalog, whose data says on which venue a
# historical liquidation happened (data, not code that branches on a venue).
_ALLOWED = frozenset(("venues/registry.py", "sim/catalog.py"))
DOC = Path(__file__).resolve().parents[3] / "docs" / "venues-connection.md"


def test_every_spec_names_its_adapter_simulator_and_encoder() -> None:
    for name, spec in SPECS.items():
        assert adapter_class(name).spec is spec
        assert protocol_for(name).venue == name
        assert callable(encoder(name).encode)
        assert spec.keepalive.drop_after_s > spec.keepalive.interval_s or spec.keepalive.mode == "server_ping"
        documented = spec.limits.topics_per_connection
        assert documented is None or spec.topics_per_connection <= documented


def test_settings_have_a_section_per_registered_venue() -> None:
    settings = load_settings(environ={f"LIQMON_VENUES__{VENUES[-1].upper()}__ENABLED": "no"}, overrides={})
    assert [settings.venues.of(v).enabled for v in VENUES] == [True] * (len(VENUES) - 1) + [False]


def test_docs_venue_table_matches_the_registry() -> None:
    text = DOC.read_text()
    table = re.search(r"<!-- venue-table:start -->\n(.*?)<!-- venue-table:end -->", text, re.S)
    assert table is not None, "docs/venues-connection.md lost its venue-table markers"
    assert table.group(1) == venue_table(), "regenerate with: python -m monitor.venues.registry"


def test_generic_modules_never_name_a_venue() -> None:
    """Outside the venue modules (adapter, simulator protocol, encoder) and the registry, code names no venue."""
    package = Path(__file__).resolve().parents[3] / "monitor"
    venue_files = {f"{v}.py" for v in VENUES}
    pattern = re.compile("|".join(rf"\b{v}\b" for v in VENUES), re.I)
    offenders = []
    for path in package.rglob("*.py"):
        if path.name in venue_files or path.relative_to(package).as_posix() in _ALLOWED:
            continue  # the venue modules themselves, the one list of them, and scenario data
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        code = re.sub(r'""".*?"""', "", code, flags=re.S)  # docstrings may give examples
        if pattern.search(code):
            offenders.append(str(path.relative_to(package)))
    assert offenders == []
