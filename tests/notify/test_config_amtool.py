"""Differential: vigil's verdict on a config equals ``amtool check-config`` (Alertmanager 0.25).

Where 0.25 differs from the newer upstream fixtures, the upstream expectation
is asserted and the difference is listed below with its reason.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from vigil.config.errors import ConfigError
from vigil.notify.config import check_config, load_notify_config

AMTOOL = "/usr/bin/amtool"
REPO = Path(__file__).resolve().parents[2]
AM = REPO.parent / "shared" / "conformance" / "alertmanager"
CONFIGS: list[dict[str, Any]] = json.loads((AM / "expectations.json").read_text())["configs"]

# Files that amtool 0.25 rejects but newer Alertmanager (the fixtures' commit) accepts.
NEWER_THAN_0_25 = {
    "config/testdata/conf.mattermost-default-webhook-url-file.yml": "mattermost_configs added after 0.25",
    "config/testdata/conf.mattermost-default-webhook-url.yml": "mattermost_configs added after 0.25",
    "config/testdata/conf.rocketchat-default-token-file.yml": "rocketchat_configs added after 0.25",
    "config/testdata/conf.rocketchat-default-token.yml": "rocketchat_configs added after 0.25",
    "config/testdata/conf.slack-default-app-token.yml": "global slack_app_token / app_url added after 0.25",
    "config/testdata/conf.smtp-password-global-and-local.yml": "smtp_auth_secret_file added after 0.25",
    "config/testdata/conf.telegram-default-bot-token-file.yml": "global telegram_bot_token(_file) added after 0.25",
    "config/testdata/conf.telegram-default-bot-token.yml": "global telegram_bot_token added after 0.25",
    "config/testdata/conf.wechat-default-api-secret-file.yml": "wechat_api_secret_file added after 0.25",
    "doc/examples/simple.yml": "top-level tracing section added after 0.25",
    "doc/examples/route_labels.yml": "route labels added after 0.25",
}

BASE = "route:\n  receiver: r\nreceivers:\n  - name: r\n"
OWN: dict[str, str] = {
    "ok-minimal": BASE,
    "ok-webhook": BASE + "    webhook_configs: [{url: 'http://127.0.0.1:5001/', max_alerts: 3}]\n",
    "ok-tree": BASE.replace("  receiver: r\n", "  receiver: r\n  group_by: ['...']\n  routes:\n"
                            "    - matchers: ['a=\"b\"', 'c=~d.*']\n      continue: true\n"
                            "      mute_time_intervals: [w]\n")
    + "time_intervals:\n  - name: w\n    time_intervals:\n      - weekdays: ['monday:friday']\n"
    "        times: [{start_time: '09:00', end_time: '17:00'}]\n        location: Europe/Berlin\n"
    "        days_of_month: ['-3:-1']\n        months: ['january:march']\n",
    "ok-inhibit": BASE + "inhibit_rules:\n  - source_match: {a: b}\n    target_match_re: {c: 'd|e'}\n"
    "    equal: [x]\n",
    "ok-email": "global: {smtp_smarthost: 'mail:25', smtp_from: 'a@b'}\n" + BASE
    + "    email_configs: [{to: 'x@y', headers: {subject: hi}}]\n",
    "ok-pagerduty": BASE + "    pagerduty_configs: [{service_key: k, details: {a: b}}]\n",
    "ok-slack-inline": BASE + "    slack_configs: [{api_url: 'https://hooks.slack.com/x', fields: [{title: t, value: v}]}]\n",
    "bad-empty": "",
    "bad-no-receiver": "route:\n  group_by: [a]\nreceivers:\n  - name: r\n",
    "bad-dup-receiver": BASE + "  - name: r\n",
    "bad-unknown-receiver": BASE.replace("receiver: r", "receiver: nope"),
    "bad-group-by-dup": BASE.replace("  receiver: r\n", "  receiver: r\n  group_by: [a, a]\n"),
    "bad-group-by-name": BASE.replace("  receiver: r\n", "  receiver: r\n  group_by: ['a-b']\n"),
    "bad-continue-root": BASE.replace("  receiver: r\n", "  receiver: r\n  continue: true\n"),
    "bad-zero-group-interval": BASE.replace("  receiver: r\n", "  receiver: r\n  group_interval: 0s\n"),
    "bad-zero-repeat": BASE.replace("  receiver: r\n", "  receiver: r\n  routes: [{repeat_interval: 0s}]\n"),
    "bad-root-matchers": BASE.replace("  receiver: r\n", "  receiver: r\n  matchers: ['a=b']\n"),
    "bad-undefined-interval": BASE.replace("  receiver: r\n", "  receiver: r\n  routes: [{mute_time_intervals: [x]}]\n"),
    "bad-unknown-key": BASE.replace("  receiver: r\n", "  receiver: r\n  recevier: r\n"),
    "bad-matcher": BASE.replace("  receiver: r\n", "  receiver: r\n  routes: [{matchers: ['a=\"b']}]\n"),
    "bad-regex": BASE.replace("  receiver: r\n", "  receiver: r\n  routes: [{match_re: {a: '(b'}}]\n"),
    "bad-webhook-no-url": BASE + "    webhook_configs: [{send_resolved: true}]\n",
    "bad-webhook-scheme": BASE + "    webhook_configs: [{url: 'ftp://x/'}]\n",
    "bad-email-no-smarthost": BASE + "    email_configs: [{to: 'x@y'}]\n",
    "bad-pagerduty-no-key": BASE + "    pagerduty_configs: [{severity: page}]\n",
    "bad-slack-no-url": BASE + "    slack_configs: [{channel: '#x'}]\n",
    "bad-weekday": BASE + "time_intervals: [{name: w, time_intervals: [{weekdays: [funday]}]}]\n",
    "bad-time": BASE + "time_intervals: [{name: w, time_intervals: [{times: [{start_time: '10:00', end_time: '09:00'}]}]}]\n",
    "bad-dup-interval": BASE + "time_intervals: [{name: w}, {name: w}]\n",
    "bad-equal-name": BASE + "inhibit_rules: [{equal: ['1x']}]\n",
}  # fmt: skip


def amtool_accepts(path: Path) -> bool:
    proc = subprocess.run(
        [AMTOOL, "check-config", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert "Checking" in proc.stdout, proc.stdout + proc.stderr
    return proc.returncode == 0


def vigil_accepts(path: Path) -> bool:
    try:
        load_notify_config(path)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("case", CONFIGS, ids=[c["file"] for c in CONFIGS])
def test_conformance_files_against_amtool(case: dict[str, Any]) -> None:
    path = AM / case["file"]
    ours = vigil_accepts(path)
    assert ours == (case["expected"] == "valid")
    theirs = amtool_accepts(path)
    if case["file"] in NEWER_THAN_0_25:
        assert (ours, theirs) == (True, False), NEWER_THAN_0_25[case["file"]]
    else:
        assert ours == theirs


@pytest.mark.parametrize("name", sorted(OWN))
def test_own_configs_against_amtool(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yml"
    path.write_text(OWN[name])
    ours = vigil_accepts(path)
    assert ours == name.startswith("ok-")
    assert ours == amtool_accepts(path)


def test_check_config_output(tmp_path: Path) -> None:
    good = AM / "config/testdata/conf.good.yml"
    bad = tmp_path / "bad.yml"
    bad.write_text(OWN["bad-unknown-receiver"])
    out = io.StringIO()
    assert check_config([str(good)], out) == 0
    text = out.getvalue()
    assert f"Checking '{good}'  SUCCESS" in text
    assert " - 9 receivers" in text
    assert " - 1 templates" in text
    assert " - 1 inhibit rules" in text
    assert "validated but not delivered by vigil: opsgenie, pushover, victorops" in text
    out = io.StringIO()
    assert check_config([str(good), str(bad)], out) == 1
    text = out.getvalue()
    assert f"Checking '{bad}'  FAILED:" in text
    assert f'{bad}:2:13: route.receiver: undefined receiver "nope" used in route' in text
    assert "failed to validate 1 file(s)" in text
