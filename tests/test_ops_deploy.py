"""The deployment files hold together. `docker compose config` validates compose.yaml where
Docker Compose is installed; everywhere, a structural check of the keys the Compose
specification allows and of what our set-up needs (two instances on one PostgreSQL, one shared
key and attachments volume, migrations before the instances, nginx in front of both)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"

# The Compose specification's top-level keys, and the service keys (compose-spec.json, 2025).
TOP_LEVEL = {"version", "name", "include", "services", "networks", "volumes", "configs", "secrets"}
SERVICE_KEYS = {
    "annotations", "attach", "blkio_config", "build", "cap_add", "cap_drop", "cgroup",
    "cgroup_parent", "command", "configs", "container_name", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpus",
    "cpuset", "credential_spec", "depends_on", "deploy", "develop", "device_cgroup_rules",
    "devices", "dns", "dns_opt", "dns_search", "domainname", "entrypoint", "env_file",
    "environment", "expose", "extends", "external_links", "extra_hosts", "group_add",
    "healthcheck", "hostname", "image", "init", "ipc", "isolation", "labels", "links",
    "logging", "mac_address", "mem_limit", "mem_reservation", "mem_swappiness", "memswap_limit",
    "network_mode", "networks", "oom_kill_disable", "oom_score_adj", "pid", "pids_limit",
    "platform", "ports", "privileged", "profiles", "pull_policy", "read_only", "restart",
    "runtime", "scale", "secrets", "security_opt", "shm_size", "stdin_open", "stop_grace_period",
    "stop_signal", "storage_opt", "sysctls", "tmpfs", "tty", "ulimits", "user", "userns_mode",
    "uts", "volumes", "volumes_from", "working_dir",
}  # fmt: skip
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTART = {"no", "always", "on-failure", "unless-stopped"}


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True
    ).returncode == 0:  # fmt: skip
        result = subprocess.run(
            ["docker", "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
            capture_output=True,
            text=True,
            env={"POSTGRES_PASSWORD": "x", "SEAL_KEY": "y", "PATH": "/usr/bin:/bin"},
        )
        assert result.returncode == 0, result.stderr
    spec = compose()
    assert set(spec) <= TOP_LEVEL | {k for k in spec if k.startswith("x-")}
    for name, service in spec["services"].items():
        unknown = {k for k in service if not k.startswith("x-")} - SERVICE_KEYS
        assert not unknown, f"{name}: not Compose keys: {unknown}"
        assert "image" in service or "build" in service, name
        assert str(service.get("restart", "no")) in RESTART, name
        depends = service.get("depends_on", {})
        for other, rule in depends.items() if isinstance(depends, dict) else []:
            assert other in spec["services"] and rule["condition"] in DEPENDS_CONDITIONS
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} is missing"
            else:
                assert source in (spec.get("volumes") or {}), f"{name}: undeclared {source}"
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).exists()


def test_two_instances_share_one_database_key_and_attachments_behind_nginx() -> None:
    services = compose()["services"]
    instances = {n: s for n, s in services.items() if s.get("command") is None and "build" in s}
    assert len(instances) >= 2
    for service in instances.values():
        env = service["environment"]
        assert (
            env["DATABASE_URL"].startswith("postgresql+asyncpg://")
            and "@db:" in env["DATABASE_URL"]
        )
        assert env["AUTO_MIGRATE"] == "false"  # the `migrate` service did it, under its lock
        assert env["SEAL_KEY"].startswith("${SEAL_KEY")  # one key, the same on every instance
        assert f"attachments:{env['ATTACHMENTS_DIR']}" in service["volumes"]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["grassroots", "db", "upgrade"]
    assert services["db"]["image"].startswith("postgres:")
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx")
    site = (DEPLOY / "nginx" / "compose.conf").read_text()
    upstream = set(re.findall(r"server (\w+):8080", site))
    assert upstream == set(instances)


@pytest.mark.parametrize("site", ["compose.conf", "grassroots.conf"])
def test_nginx_sites_proxy_the_webhooks_and_admin_but_never_metrics(site: str) -> None:
    text = (DEPLOY / "nginx" / site).read_text()
    assert text.count("{") == text.count("}")
    assert "location = /metrics { return 404; }" in text
    for path in ("/telegram/webhook", "/zalo/", "/admin/", "/healthz"):
        assert re.search(rf"location =? ?{re.escape(path)} ", text), path
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in text
    assert "client_max_body_size" in text


def test_image_runs_as_a_user_and_the_units_run_grassroots() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "uv sync --frozen --no-dev" in dockerfile and "/healthz" in dockerfile
    unit = (DEPLOY / "systemd" / "grassroots@.service").read_text()
    assert "ExecStart=/opt/grassroots/.venv/bin/grassroots run" in unit
    assert re.search(r"^User=grassroots$", unit, re.M)
