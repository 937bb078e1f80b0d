"""The gateway configuration (deploy/nginx/deepiri.conf) as both of its users render it: the
official nginx image (envsubst over DEEPIRI_* names only) in compose, and devtools/topology.py for
make prod and the scale-out test. The behaviour behind it is proven in test_topology.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools.topology import NGINX_TEMPLATE, ROOT, nginx_binary, render_nginx_main, render_nginx_site

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_gateway_is_the_only_published_service_and_every_process_is_supervised():
    services = _compose()["services"]
    assert [name for name, svc in services.items() if svc.get("ports")] == ["gateway"]
    for name in ("gateway", "web", "ws", "worker", "beat"):
        assert services[name]["restart"] == "unless-stopped", name
    assert services["gateway"]["volumes"] == ["./deploy/nginx/deepiri.conf:/etc/nginx/templates/default.conf.template:ro"]


def test_the_image_envsubst_and_the_local_renderer_give_the_same_config(tmp_path):
    if not shutil.which("envsubst"):
        pytest.skip("envsubst (gettext-base) is not installed")
    gateway_env = _compose()["services"]["gateway"]["environment"]
    values = {k: str(v) for k, v in gateway_env.items() if k.startswith("DEEPIRI_")}
    values["DEEPIRI_MAX_BODY_BYTES"] = "1048576"  # compose interpolates ${MAX_BODY_BYTES:-1048576}
    # What the image's 20-envsubst-on-templates.sh runs: only the filtered names are replaced.
    names = " ".join(f"${{{k}}}" for k in values)
    rendered = subprocess.run(
        ["envsubst", names], input=NGINX_TEMPLATE.read_text(), env={**os.environ, **values},
        capture_output=True, text=True, check=True,
    ).stdout
    ours = render_nginx_site(
        listen=80, web=["web:8000 max_fails=1 fail_timeout=5s"], ws=["ws:8001 max_fails=1 fail_timeout=5s"],
        max_body_bytes=1048576, access_log="/dev/stdout",
    )
    assert rendered == ours
    assert "$deepiri_request_id" in rendered and "$proxy_add_x_forwarded_for" in rendered  # nginx's own survive


def test_nginx_accepts_the_rendered_config(tmp_path):
    nginx = nginx_binary()
    if not nginx:
        if IN_CI:
            pytest.fail("nginx is not installed (.ci/run installs Debian's nginx)")
        pytest.skip("nginx is not installed")
    (tmp_path / "logs").mkdir()
    (tmp_path / "nginx").mkdir()
    site = tmp_path / "deepiri.conf"
    site.write_text(
        render_nginx_site(listen="127.0.0.1:1", web=["127.0.0.1:2", "127.0.0.1:3"], ws=["127.0.0.1:4"],
                          max_body_bytes=1048576, access_log=str(tmp_path / "logs" / "access.log"))
    )
    main = tmp_path / "nginx.conf"
    main.write_text(render_nginx_main(Path(tmp_path), site))
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "logs" / "error.log"), "-c", str(main)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
