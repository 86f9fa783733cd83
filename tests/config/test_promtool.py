"""Differential: configs vigil accepts or rejects, Prometheus's ``promtool check config`` agrees.

Each case is a complete prometheus.yml. Only cases inside what the installed
Prometheus (2.42) knows are listed; where vigil is deliberately stricter or
newer (``scheme: ftp`` is rejected; global limits are accepted) the cases live
in test_loader.py instead.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from vigil.config import ConfigError, parse_config

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = pytest.mark.skipif(not Path(PROMTOOL).exists(), reason="promtool not installed")

JOB = "scrape_configs:\n  - job_name: a\n"

CASES: dict[str, str] = {
    # accepted
    "empty": "",
    "debian-style": "global:\n  scrape_interval: 15s\n  external_labels: {monitor: x}\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['localhost:9093']\nrule_files: []\n"
    + JOB
    + "    static_configs: [{targets: ['localhost:9090']}]\n",
    "durations": "global:\n  scrape_interval: 1h30m\n  scrape_timeout: 100ms\n  evaluation_interval: 1d\n",
    "zero-interval-means-default": "global:\n  scrape_interval: 0s\n",
    "sizes": JOB + "    body_size_limit: 1.5MB\n",
    "size-zero": JOB + "    body_size_limit: 0\n",
    "all-actions": JOB
    + """    relabel_configs:
      - {source_labels: [a], regex: 'x.*', action: keep}
      - {source_labels: [a], action: drop}
      - {source_labels: [a], target_label: b, action: keepequal}
      - {source_labels: [a], target_label: b, action: dropequal}
      - {source_labels: [a], target_label: b, modulus: 4, action: hashmod}
      - {regex: '__meta_(.+)', replacement: 'm_$1', action: labelmap}
      - {regex: 'tmp_.*', action: labeldrop}
      - {regex: '.*', action: labelkeep}
      - {source_labels: [a], target_label: b, action: lowercase}
      - {source_labels: [a], target_label: b, action: Uppercase}
      - {source_labels: [a], target_label: '${1}x', regex: '(.*)'}
""",
    "auth-tls": JOB
    + "    basic_auth: {username: u, password: p}\n    tls_config: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, insecure_skip_verify: true}\n",
    "bearer": JOB + "    bearer_token: abc\n",
    "authorization": JOB + "    authorization: {type: Token, credentials: abc}\n",
    "url-target-with-relabel": JOB
    + "    static_configs: [{targets: ['http://x/y']}]\n    relabel_configs: [{target_label: __address__, replacement: 'h:1'}]\n",
    "file-sd": JOB
    + "    file_sd_configs: [{files: ['sd/*.json', 'x.yml'], refresh_interval: 30s}]\n",
    "params": JOB + "    params: {module: [a, b]}\n",
    "regex-bool-text": JOB
    + "    relabel_configs: [{source_labels: [a], regex: true, action: keep}]\n",
    "other-sd-ignored": JOB + "    dns_sd_configs: [{names: [x.example.org], type: A, port: 9}]\n",
    # rejected
    "bad-duration": "global:\n  scrape_interval: 1.5s\n",
    "bad-duration-unit": "global:\n  scrape_interval: 5S\n",
    "global-timeout-gt-interval": "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
    "job-timeout-gt-interval": JOB + "    scrape_interval: 5s\n    scrape_timeout: 6s\n",
    "duplicate-job": JOB + "  - job_name: a\n",
    "empty-job-name": "scrape_configs:\n  - job_name: ''\n",
    "null-scrape-config": JOB + "  - ~\n",
    "unknown-global-key": "global:\n  scrape_timout: 5s\n",
    "unknown-job-key": JOB + "    scrape_intervall: 5s\n",
    "unknown-top-key": "scrape_config: []\n",
    "size-no-unit": JOB + "    body_size_limit: 1000\n",
    "size-bad-unit": JOB + "    body_size_limit: 10mb\n",
    "negative-limit": JOB + "    sample_limit: -1\n",
    "hashmod-no-modulus": JOB
    + "    relabel_configs: [{source_labels: [a], target_label: b, action: hashmod}]\n",
    "unknown-action": JOB + "    relabel_configs: [{action: foo}]\n",
    "bad-regex": JOB + "    relabel_configs: [{regex: 'a(', action: keep}]\n",
    "replace-bad-target": JOB + "    relabel_configs: [{target_label: '1x'}]\n",
    "replace-no-target": JOB + "    relabel_configs: [{source_labels: [a]}]\n",
    "labelmap-bad-replacement": JOB
    + "    relabel_configs: [{regex: 'a', replacement: '1x', action: labelmap}]\n",
    "labeldrop-extra-field": JOB
    + "    relabel_configs: [{regex: 'a', target_label: b, action: labeldrop}]\n",
    "keepequal-regex": JOB
    + "    relabel_configs: [{source_labels: [a], target_label: b, regex: x, action: keepequal}]\n",
    "lowercase-replacement": JOB
    + "    relabel_configs: [{source_labels: [a], target_label: b, replacement: x, action: lowercase}]\n",
    "null-relabel-rule": JOB + "    relabel_configs: [~]\n",
    "bad-static-label": JOB + "    static_configs: [{targets: ['h:1'], labels: {'a-b': c}}]\n",
    "url-target": JOB + "    static_configs: [{targets: ['http://x/y']}]\n",
    "external-label-name": "global:\n  external_labels: {'a-b': c}\n",
    "file-sd-bad-ext": JOB + "    file_sd_configs: [{files: [a.txt]}]\n",
    "file-sd-no-files": JOB + "    file_sd_configs: [{files: []}]\n",
    "cert-without-key": JOB + "    tls_config: {cert_file: x}\n",
    "password-and-file": JOB + "    basic_auth: {username: u, password: p, password_file: f}\n",
    "basic-and-bearer": JOB + "    basic_auth: {username: u}\n    bearer_token: t\n",
    "basic-and-authorization": JOB
    + "    basic_auth: {username: u}\n    authorization: {credentials: t}\n",
    "authorization-basic-type": JOB + "    authorization: {type: Basic, credentials: t}\n",
    "bearer-and-file": JOB + "    bearer_token: t\n    bearer_token_file: f\n",
    "bad-proxy": JOB + "    proxy_url: '::bad'\n",
    "params-not-list": JOB + "    params: {a: b}\n",
    "bool-garbage": JOB + "    honor_labels: maybe\n",
    "yaml-syntax": "scrape_configs: [\n",
    "duplicate-key": "global:\n  scrape_interval: 5s\n  scrape_interval: 6s\n",
}


def promtool_accepts(path: Path) -> tuple[bool, str]:
    proc = subprocess.run(
        [PROMTOOL, "check", "config", "--syntax-only", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_accept_reject_agrees_with_promtool(name: str, tmp_path: Path) -> None:
    text = CASES[name]
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    theirs, output = promtool_accepts(path)
    try:
        parse_config(text, str(path))
        ours, why = True, ""
    except ConfigError as exc:
        ours, why = False, exc.format()
    assert ours == theirs, f"vigil {'accepts' if ours else 'rejects'} ({why}); promtool: {output}"
