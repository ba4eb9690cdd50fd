"""Deployment files: Prometheus/Alertmanager configs pass their own tools, and compose, Dockerfile,
systemd units and liqmon settings agree with each other."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from monitor.cli import COMMANDS
from monitor.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMTOOL = "/usr/bin/promtool"
AMTOOL = "/usr/bin/amtool"


def tool(*args: str, cwd: Path = DEPLOY) -> str:
    """Run a Prometheus tool; fail the test with its output when it exits non-zero."""
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {done.returncode}:\n{output}")
    return output


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(DEPLOY / "docker-compose.yml")
    return data


def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def liqmon_settings(extra_env: dict[str, str] | None = None) -> Settings:
    env = {k: v for k, v in env_example().items() if k.startswith("LIQMON_")} | (extra_env or {})
    return load_settings(DEPLOY / "liqmon.toml", environ=env)


def liqmon_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose()["services"].items() if str(svc.get("image", "")).startswith("liqmon:")}


# --- Prometheus and Alertmanager, checked by their own tools -------------------------------------


def test_promtool_check_config() -> None:
    out = tool(PROMTOOL, "check", "config", "prometheus/prometheus.yml")
    assert "SUCCESS" in out


def test_promtool_check_rules() -> None:
    rules = sorted(str(p.relative_to(DEPLOY)) for p in (DEPLOY / "prometheus" / "rules").glob("*.yml"))
    assert rules
    out = tool(PROMTOOL, "check", "rules", *rules)
    assert "SUCCESS" in out


def test_promtool_test_rules() -> None:
    tests = sorted(str(p.relative_to(DEPLOY)) for p in (DEPLOY / "prometheus" / "tests").glob("*.yml"))
    assert tests
    out = tool(PROMTOOL, "test", "rules", *tests)
    assert "SUCCESS" in out


def test_promtool_test_rules_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    """The rule tests are able to fail: a copy with one wrong expectation must be rejected."""
    original = (DEPLOY / "prometheus" / "tests" / "liqmon_test.yml").read_text(encoding="utf-8")
    broken = original.replace("value: -0.00015", "value: -0.00016", 1)
    assert broken != original
    rules = DEPLOY / "prometheus" / "rules" / "liqmon.yml"
    (tmp_path / "t.yml").write_text(broken.replace("../rules/liqmon.yml", str(rules)), encoding="utf-8")
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "t.yml"], cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0


def test_every_alert_has_a_unit_test_and_documentation() -> None:
    rules = [r for g in load_yaml(DEPLOY / "prometheus" / "rules" / "liqmon.yml")["groups"] for r in g["rules"]]
    alerts = {r["alert"] for r in rules if "alert" in r}
    tested = set(re.findall(r"alertname: (\w+)", (DEPLOY / "prometheus" / "tests" / "liqmon_test.yml").read_text()))
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for rule in rules:
        if "alert" not in rule:
            continue
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert rule["labels"]["category"] in ("market", "pipeline"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert f"`{rule['alert']}`" in operations, f"{rule['alert']} is not explained in docs/operations.md"
    untested = (
        alerts
        - tested
        - {
            "FundingFlip",
            "OpenInterestCollapse",
            "LiqmonFeedFlapping",
            "LiqmonBusBuffering",
            "LiqmonSinkBacklog",
            "LiqmonDecisionLatencyHigh",
            "LiqmonVersionSkew",
        }
    )
    assert not untested, f"alerts without a promtool test: {sorted(untested)}"


def test_amtool_check_config() -> None:
    out = tool(AMTOOL, "check-config", "alertmanager/alertmanager.yml")
    assert "SUCCESS" in out


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["alertname=LiquidationCascade", "category=market", "severity=warning", "base=BTC"], "desk-slack"),
        (["alertname=LiqmonSinkUnhealthy", "category=pipeline", "severity=critical"], "ops-slack"),
        (["alertname=LiqmonVersionSkew", "category=pipeline", "severity=info"], "ops-slack"),
    ],
)
def test_alertmanager_routes(labels: list[str], receiver: str) -> None:
    out = tool(AMTOOL, "config", "routes", "test", "--config.file=alertmanager/alertmanager.yml", *labels)
    assert out.splitlines()[0].strip() == receiver


def test_alertmanager_reads_slack_urls_from_files() -> None:
    config = load_yaml(DEPLOY / "alertmanager" / "alertmanager.yml")
    slack = [c for r in config["receivers"] for c in r.get("slack_configs", [])]
    assert slack
    for entry in slack:
        assert "api_url" not in entry, "the webhook URL is a secret: use api_url_file"
        assert entry["api_url_file"].startswith("/run/secrets/")
        assert entry["send_resolved"] is True


# --- docker compose ------------------------------------------------------------------------------


def test_compose_runs_real_liqmon_commands() -> None:
    services = liqmon_services()
    commands = sorted(svc["command"][0] for svc in services.values())
    assert commands == ["alert", "collect", "detect", "detect"]
    for name, svc in services.items():
        assert svc["command"][0] in COMMANDS, f"{name}: liqmon has no sub-command {svc['command'][0]!r}"
        assert svc["environment"]["LIQMON_CONFIG"] == "/etc/liqmon/liqmon.toml"
        assert "./liqmon.toml:/etc/liqmon/liqmon.toml:ro" in svc["volumes"]
    assert {"redis", "mosquitto", "prometheus", "alertmanager", "grafana"} <= set(compose()["services"])


def _host_paths(svc: dict[str, Any]) -> list[str]:
    return [v.split(":", 1)[0] for v in svc.get("volumes", []) if v.startswith((".", "/"))]


def test_compose_references_files_that_exist() -> None:
    data = compose()
    for name, svc in data["services"].items():
        for host in _host_paths(svc):
            assert (DEPLOY / host).exists(), f"{name} mounts {host}, which does not exist"
        build = svc.get("build")
        if build:
            context = DEPLOY / build["context"]
            assert (context / build["dockerfile"]).is_file()
        for secret in svc.get("secrets", []):
            assert secret in data["secrets"], f"{name} uses undeclared secret {secret}"
    secrets_doc = (DEPLOY / "secrets" / "README.md").read_text(encoding="utf-8")
    for name, secret in data["secrets"].items():
        assert secret["file"].startswith("./secrets/")
        assert name in secrets_doc, f"secret {name} is not described in deploy/secrets/README.md"
    # `.env` is created from the example, as the header of docker-compose.yml says.
    assert (DEPLOY / ".env.example").is_file()


def test_compose_redis_has_aof_on() -> None:
    redis = compose()["services"]["redis"]
    conf_host = next(v.split(":")[0] for v in redis["volumes"] if v.endswith("redis.conf:ro"))
    conf = (DEPLOY / conf_host).read_text(encoding="utf-8")
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)
    assert conf_host.removeprefix("./") == "redis/redis.conf"
    assert redis["command"][-1] == "/usr/local/etc/redis/redis.conf"


def test_compose_publishes_only_on_loopback() -> None:
    for name, svc in compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


def test_env_example_is_valid_for_liqmon_and_compose() -> None:
    env = env_example()
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    for variable in set(re.findall(r"\$\{(\w+)(?::-[^}]*)?\}", text)):
        assert variable in env, f"docker-compose.yml uses ${{{variable}}}, which .env.example does not show"
    # Every liqmon container reads the whole file: anything LIQMON_* must be a real setting.
    liqmon_settings()


def test_liqmon_settings_of_the_deployment_load() -> None:
    settings = liqmon_settings()
    assert settings.bus.redis_enabled
    assert settings.metrics.host == "0.0.0.0"


# --- ports and addresses agree -------------------------------------------------------------------


def _prometheus() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    return data


def _listen_port(svc: dict[str, Any], flag: str, default: int) -> int:
    for arg in svc.get("command", []):
        if str(arg).startswith(flag + "="):
            return int(str(arg).rsplit(":", 1)[1])
    return default


def test_prometheus_scrapes_every_liqmon_role_on_the_configured_port() -> None:
    port = liqmon_settings().metrics.port
    job = next(j for j in _prometheus()["scrape_configs"] if j["job_name"] == "liqmon")
    targets = {t for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:{port}" for name in liqmon_services()}
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert f"EXPOSE {port}" in dockerfile
    assert f"LIQMON_METRICS__PORT={port}" in dockerfile


def test_grafana_datasource_points_at_the_prometheus_service() -> None:
    services = compose()["services"]
    source = load_yaml(ROOT / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")["datasources"][0]
    url = urlsplit(source["url"])
    assert url.hostname in services
    assert url.port == _listen_port(services[url.hostname], "--web.listen-address", 9090)
    interval = _prometheus()["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == interval


def test_grafana_mounts_what_provisioning_expects() -> None:
    grafana = compose()["services"]["grafana"]
    provider = load_yaml(ROOT / "grafana" / "provisioning" / "dashboards" / "liqmon.yaml")["providers"][0]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts[provider["options"]["path"]] == "../grafana/dashboards"
    assert mounts["/etc/grafana/provisioning/datasources"] == "../grafana/provisioning/datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "../grafana/provisioning/dashboards"


def test_alertmanager_address_agrees_everywhere() -> None:
    services = compose()["services"]
    am_port = _listen_port(services["alertmanager"], "--web.listen-address", 9093)
    targets = [
        t for am in _prometheus()["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]
    ]
    assert targets == [f"alertmanager:{am_port}"]
    sink = liqmon_settings().alerts.alertmanager
    assert sink is not None
    assert urlsplit(sink.url).netloc == f"alertmanager:{am_port}"
    config = services["alertmanager"]["command"][0].split("=", 1)[1]
    assert f"./alertmanager/alertmanager.yml:{config}:ro" in services["alertmanager"]["volumes"]


def test_prometheus_config_is_mounted_where_the_command_reads_it() -> None:
    prometheus = compose()["services"]["prometheus"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]


def test_mosquitto_and_redis_ports_agree_with_liqmon() -> None:
    settings = liqmon_settings()
    mqtt = settings.alerts.mqtt
    assert mqtt is not None
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    listener = re.search(r"^listener (\d+)", conf, re.M)
    assert listener
    assert mqtt.host in compose()["services"]
    assert mqtt.port == int(listener.group(1))
    redis_url = urlsplit(settings.bus.redis_url or "")
    redis_conf = (DEPLOY / "redis" / "redis.conf").read_text(encoding="utf-8")
    redis_port = re.search(r"^port (\d+)", redis_conf, re.M)
    assert redis_port
    assert redis_url.hostname in compose()["services"]
    assert redis_url.port == int(redis_port.group(1))
    healthcheck = compose()["services"]["redis"]["healthcheck"]["test"]
    assert healthcheck[healthcheck.index("-p") + 1] == redis_port.group(1)


# --- Dockerfile ----------------------------------------------------------------------------------


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def _dockerignored(path: str) -> bool:
    ignored = False
    for raw in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").removeprefix("**/")
        regex = re.escape(pattern).replace(r"\*", "[^/]*")
        if re.fullmatch(regex + "(/.*)?", path):
            ignored = not negate
    return ignored


def test_dockerfile_is_multi_stage_slim_and_non_root() -> None:
    text = _dockerfile()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    stages = re.findall(r"^FROM \S+ AS (\w+)$", text, re.M)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    user = re.findall(r"^USER (\S+)$", runtime, re.M)
    assert user
    assert user[-1].split(":")[0] not in ("root", "0")
    assert "COPY --from=build /opt/liqmon /opt/liqmon" in runtime


def test_dockerfile_copies_files_that_exist_and_are_not_ignored() -> None:
    for line in re.findall(r"^COPY (?!--from)(.+)$", _dockerfile(), re.M):
        sources = shlex.split(line)[:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
            assert not _dockerignored(source), f"Dockerfile copies {source}, but .dockerignore excludes it"
    assert _dockerignored(".venv")
    assert _dockerignored("tests")
    assert _dockerignored("deploy/secrets")


def test_dockerfile_healthcheck_hits_healthz_and_entrypoint_is_liqmon() -> None:
    text = _dockerfile()
    health = re.search(r"^HEALTHCHECK .*\n(?:.*\n)*?\s*CMD (.+)$", text, re.M)
    assert health
    assert "/healthz" in health.group(1)
    assert 'ENTRYPOINT ["liqmon"]' in text
    cmd = re.search(r'^CMD \["(\S+)"\]$', text, re.M)
    assert cmd
    assert cmd.group(1) in COMMANDS


def _lock_pins() -> dict[str, list[tuple[str, Requirement]]]:
    """Canonical name -> [(version, requirement with its marker)] for every line of the lock."""
    pins: dict[str, list[tuple[str, Requirement]]] = {}
    for line in (DEPLOY / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        assert len(specs) == 1, f"requirements.lock: {line!r} is not pinned to one version"
        assert specs[0].operator == "==", f"requirements.lock: {line!r} is not pinned with =="
        pins.setdefault(canonicalize_name(req.name), []).append((specs[0].version, req))
    return pins


def test_lock_pins_every_runtime_and_dev_dependency_within_its_range() -> None:
    pins = _lock_pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    target = {"sys_platform": "linux", "platform_system": "Linux", "python_full_version": "3.11.7"}
    for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is a dependency but not in deploy/requirements.lock"
        for version, line in pins[name]:
            if line.marker is not None and not line.marker.evaluate(target):
                continue
            assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} violates {spec}"
        for extra in req.extras:
            assert canonicalize_name(extra) in pins, f"{req.name}[{extra}]: the extra's package is not pinned"


def test_make_and_the_image_install_from_the_one_lock() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "uv pip install --quiet --python $(BIN)/python -r $(LOCK)" in makefile
    assert "LOCK   := deploy/requirements.lock" in makefile
    dockerfile = _dockerfile()
    assert "COPY deploy/requirements.lock ./requirements.lock" in dockerfile
    assert "pip install -c requirements.lock ." in dockerfile


# --- systemd -------------------------------------------------------------------------------------

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "DynamicUser": "yes",
    "CapabilityBoundingSet": "",
    "RestrictSUIDSGID": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "SystemCallArchitectures": "native",
}


def _unit(path: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


@pytest.mark.parametrize("name", ["liqmon.service", "liqmon@.service"])
def test_systemd_unit_is_hardened_and_runs_a_real_command(name: str) -> None:
    unit = _unit(DEPLOY / "systemd" / name)
    for key, value in HARDENING.items():
        assert unit.get(key) == [value], f"{name}: expected {key}={value}"
    assert "@system-service" in unit["SystemCallFilter"]
    (exec_start,) = unit["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/liqmon/bin/liqmon"
    command = argv[1]
    assert command in COMMANDS or (name == "liqmon@.service" and command == "%i")
    assert unit["Restart"] == ["on-failure"]
    # Enough time for the ordered drain after SIGTERM.
    stop = int(unit["TimeoutStopSec"][0].rstrip("s"))
    assert stop > liqmon_settings().app.shutdown_timeout_s
