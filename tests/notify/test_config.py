"""Loading alertmanager.yml: the upstream fixtures (conformance) and the cases upstream tests in Go code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from vigil.config.errors import ConfigError
from vigil.model.matchers import MatchType
from vigil.notify.config import (
    InhibitRule,
    NotifyConfig,
    load_notify_config,
    parse_notify_config,
    render_config,
)

REPO = Path(__file__).resolve().parents[2]
AM = REPO.parent / "shared" / "conformance" / "alertmanager"
EXPECTATIONS: dict[str, Any] = json.loads((AM / "expectations.json").read_text())
CONFIGS = EXPECTATIONS["configs"]

# For `exact` errors that are Go yaml.v2 wording, the key phrases vigil must show instead.
KEY_PHRASES = {
    "yaml: unmarshal errors:\n  line 16: field teams not found in type opsgenie.plain": [
        "opsgenie_configs[0].teams",
        "unknown field",
    ],
}


def load(rel: str) -> NotifyConfig:
    return load_notify_config(AM / rel)


def error_of(rel: str) -> str:
    with pytest.raises(ConfigError) as info:
        load(rel)
    return info.value.format()


@pytest.mark.parametrize("case", CONFIGS, ids=[c["file"] for c in CONFIGS])
def test_conformance(case: dict[str, Any]) -> None:
    assert len(CONFIGS) == 53
    if case["expected"] == "valid":
        cfg = load(case["file"])
        assert cfg.route.receiver in cfg.receivers
        return
    text = error_of(case["file"])
    # every problem line is file:line:col: field.path: reason
    where = re.compile(re.escape(str(AM / case["file"])) + r":\d+:\d+: (?:[\w\[\].]+: )?\S")
    for line in text.splitlines():
        assert where.match(line), line
    match = case.get("match")
    if match == "any":
        return
    for phrase in KEY_PHRASES.get(case["error"], [case["error"]]):
        assert phrase in text


@pytest.mark.parametrize(
    "case",
    EXPECTATIONS["routing"],
    ids=[f"{c['config']}:{c['alert_labels']}" for c in EXPECTATIONS["routing"]],
)
def test_routing_cases(case: dict[str, Any]) -> None:
    from vigil.model import Labels

    cfg = load(case["config"])
    got = [r.receiver for r in cfg.route.match(Labels.from_dict(case["alert_labels"]))]
    assert got == case["receivers"]


# -- the notes of expectations.json ---------------------------------------------------------


def test_good_renders_13_secrets_and_no_secret_values() -> None:
    text = render_config(load("config/testdata/conf.good.yml"))
    assert text.count("<secret>") == 13
    assert "mysecret" not in text
    assert "host.example.org" in text  # smtp_hello


def test_good_details() -> None:
    cfg = load("config/testdata/conf.good.yml")
    assert cfg.global_.smtp_hello == "host.example.org"
    mails = cfg.receivers["team-X-mails"].email_configs[0]
    assert (mails.smarthost_host, mails.smarthost_port) == ("localhost", 25)
    assert mails.auth_password == "multiline\nmysecret"  # inherited from global
    assert dict(mails.headers)["To"] == "team-X+alerts@example.org"
    assert (
        cfg.receivers["slack-receiver"].slack_configs[0].api_url == "http://mysecret.example.com/"
    )
    assert cfg.receivers["opsGenie-receiver"].unsupported == ("opsgenie",)
    assert cfg.inhibit_rules == (
        InhibitRule(
            source_matchers=cfg.inhibit_rules[0].source_matchers,
            target_matchers=cfg.inhibit_rules[0].target_matchers,
            equal=("alertname", "cluster", "service"),
        ),
    )
    (src,) = cfg.inhibit_rules[0].source_matchers
    assert (src.type, src.name, src.value) == (MatchType.EQUAL, "severity", "critical")
    db = cfg.route.routes[2]
    assert db.group_by == ("alertname", "cluster", "database")
    assert db.routes[0].group_by == ("alertname", "cluster", "database")  # inherited
    assert db.routes[0].repeat_interval == 3 * 3600.0
    assert db.routes[0].continue_
    assert not db.routes[1].continue_
    assert cfg.route.routes[0].receiver == "team-X-mails"


def test_empty_fields_after_good() -> None:
    load("config/testdata/conf.good.yml")  # nothing may leak into the next load
    cfg = load("config/testdata/conf.empty-fields.yml")
    g = cfg.global_
    assert g.resolve_timeout_s == 300.0
    assert g.smtp_require_tls is True
    assert g.smtp_hello == "localhost"  # '' counts as unset
    assert g.smtp_auth_username == ""
    assert g.smtp_auth_password == ""
    assert g.get("http_config") == {"follow_redirects": True, "enable_http2": True}
    assert g.pagerduty_url == "https://events.pagerduty.com/v2/enqueue"
    for key, url in {
        "slack_app_url": "https://slack.com/api/chat.postMessage",
        "opsgenie_api_url": "https://api.opsgenie.com/",
        "wechat_api_url": "https://qyapi.weixin.qq.com/cgi-bin/",
        "victorops_api_url": "https://alert.victorops.com/integrations/generic/20131114/alert/",
        "telegram_api_url": "https://api.telegram.org",
        "webex_api_url": "https://webexapis.com/v1/messages",
        "rocketchat_api_url": "https://open.rocket.chat/",
    }.items():
        assert g.get(key) == url
    (mail,) = cfg.receivers["team-X-mails"].email_configs
    assert mail.from_ == "alertmanager@example.org"
    assert mail.smarthost_host == "localhost"
    assert mail.html == '{{ template "email.default.html" . }}'
    assert mail.require_tls is True
    assert mail.hello == "localhost"
    (m,) = cfg.route.routes[0].matchers
    assert m.type is MatchType.REGEX
    assert m.value == "^(foo1|foo2|baz)$"
    assert m.matches("foo1")
    assert not m.matches("xfoo1")


def test_group_by_all() -> None:
    assert load("config/testdata/conf.group-by-all.yml").route.group_by is None


def test_global_and_local_http_config() -> None:
    cfg = load("config/testdata/conf.http-config.good.yml")
    assert cfg.global_.get("http_config")["follow_redirects"] is False
    (slack,) = cfg.receivers["team-X-slack"].slack_configs
    assert slack.http_config.follow_redirects is True
    assert slack.http_config.proxy_url == "foo"


def _settings(cfg: NotifyConfig, receiver: str, i: int = 0) -> dict[str, Any]:
    return cfg.integrations[receiver][i].settings


@pytest.mark.parametrize(
    ("rel", "key", "first", "second"),
    [
        ("conf.opsgenie-default-apikey.yml", "api_key", "asd132", "qwe456"),
        ("conf.opsgenie-default-apikey-file.yml", "api_key_file", "/global_file", "/override_file"),
        ("conf.victorops-default-apikey.yml", "api_key", "asd132", "qwe456"),
        (
            "conf.victorops-default-apikey-file.yml",
            "api_key_file",
            "/global_file",
            "/override_file",
        ),
        ("conf.telegram-default-bot-token.yml", "bot_token", "asd132", "qwe456"),
        (
            "conf.telegram-default-bot-token-file.yml",
            "bot_token_file",
            "/global_file",
            "/override_file",
        ),
        ("conf.rocketchat-default-token.yml", "token", "token123", "token456"),
        ("conf.rocketchat-default-token.yml", "token_id", "id123", "id456"),
        ("conf.rocketchat-default-token-file.yml", "token_file", "/global_file", "/override_file"),
        (
            "conf.mattermost-default-webhook-url-file.yml",
            "webhook_url_file",
            "/global_file",
            "/override_file",
        ),
    ],
)
def test_global_inheritance(rel: str, key: str, first: str, second: str) -> None:
    cfg = load(f"config/testdata/{rel}")
    names = list(cfg.integrations)
    values = {_settings(cfg, n)[key] for n in names}
    assert values == {first, second}
    inherited = [n for n in names if _settings(cfg, n)[key] == first]
    assert len(inherited) == 1


def test_slack_api_url_file_inheritance() -> None:
    cfg = load("config/testdata/conf.slack-default-api-url-file.yml")
    a, b, c = cfg.receivers["slack-notifications"].slack_configs
    assert (a.api_url, a.api_url_file) == ("", "/global_file")
    assert (b.api_url, b.api_url_file) == ("", "/override_file")
    assert (c.api_url, c.api_url_file) == ("http://mysecret.example.com/", "")


def test_slack_app_token() -> None:
    cfg = load("config/testdata/conf.slack-default-app-token.yml")
    one, two, three, four, five = cfg.receivers["slack-notifications"].slack_configs
    assert one.api_url == "https://slack.com/api/chat.postMessage"
    assert (one.http_config.authorization_type, one.http_config.authorization_credentials) == (
        "Bearer",
        "xoxb-1234-abcdefgh",
    )
    assert two.http_config.authorization_credentials == "xoxb-1234-xxxxxx"
    assert three.api_url == "http://api.fakeslack.example/"
    assert four.http_config.authorization_credentials == "xoxb-my-bot-token"
    assert _settings(cfg, "slack-notifications", 3).get("app_token") is None
    assert five.api_url.startswith("https://hooks.slack.com/")
    assert five.api_url_file == ""
    assert five.send_resolved is True


def test_smtp_password_global_and_local() -> None:
    cfg = load("config/testdata/conf.smtp-password-global-and-local.yml")
    one, two, three, four, _five = cfg.receivers["email-notifications"].email_configs
    assert (one.auth_password, one.auth_password_file) == ("", "/tmp/globaluserpassword")
    assert one.auth_username == "globaluser"
    assert (two.auth_password_file, two.auth_username) == ("/tmp/localuser1password", "localuser1")
    assert (three.auth_password, three.auth_password_file) == ("mysecret", "")
    assert four.auth_secret == "myprecious"
    assert _settings(cfg, "email-notifications", 4)["auth_secret_file"] == "/tmp/localuser4secret"
    assert _settings(cfg, "email-notifications", 0)["auth_secret_file"] == "/tmp/globalusersecret"


def test_wechat_secret_file() -> None:
    cfg = load("config/testdata/conf.wechat-default-api-secret-file.yml")
    s = [i.settings for i in cfg.integrations["wechat-notifications"]]
    assert s[0]["api_secret_file"] == "/global_file"
    assert s[0]["corp_id"] == "my_corp_id"
    assert s[1]["api_secret_file"] == "/override_file"
    assert s[2]["api_secret"] == "my_inline_secret"
    assert "api_secret_file" not in s[2]


def test_templates_resolved_against_config_dir(tmp_path: Path) -> None:
    (tmp_path / "tmpl").mkdir()
    (tmp_path / "tmpl" / "a.tmpl").write_text('{{ define "x" }}x{{ end }}')
    conf = tmp_path / "am.yml"
    conf.write_text(
        "templates: ['tmpl/*.tmpl', '/nonexistent/*.tmpl']\nroute: {receiver: r}\nreceivers: [{name: r}]\n"
    )
    cfg = load_notify_config(conf)
    assert cfg.templates == (str(tmp_path / "tmpl/*.tmpl"), "/nonexistent/*.tmpl")
    assert cfg.template_files == (str(tmp_path / "tmpl" / "a.tmpl"),)
    assert cfg.original_text == conf.read_text()


# -- cases upstream's config_test.go writes in Go code ----------------------------------------

BASE_RECEIVERS = "receivers:\n  - name: team-X\n"


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse_notify_config(text, "am.yml")
    return info.value.format()


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (BASE_RECEIVERS, "am.yml:1:1: route", "no route provided in config"),
        ("", "am.yml", "no route provided in config"),
        (
            "route:\n  group_by: [a]\n" + BASE_RECEIVERS,
            "am.yml:2:3: route",
            "root route must specify a default receiver",
        ),
        (
            "route:\n  receiver: team-X\n" + BASE_RECEIVERS + "  - name: team-X\n",
            "am.yml:5:5: receivers[1].name",
            'notification config name "team-X" is not unique',
        ),
        (
            "route:\n  receiver: team-X\n  routes:\n    - receiver: team-Y\n" + BASE_RECEIVERS,
            "am.yml:4:17: route.routes[0].receiver",
            'undefined receiver "team-Y" used in route',
        ),
        (
            "route:\n  receiver: team-X\n  group_by: [a, b, a]\n" + BASE_RECEIVERS,
            "am.yml:3:20: route.group_by",
            'duplicated label "a" in group_by',
        ),
        (
            "route:\n  receiver: team-X\n  group_by: ['-invalid-']\n" + BASE_RECEIVERS,
            "am.yml:3:14: route.group_by",
            'invalid label name "-invalid-" in group_by list',
        ),
        (
            "route:\n  receiver: team-X\n  group_by: ['...', a]\n" + BASE_RECEIVERS,
            "route.group_by",
            "cannot have wildcard group_by (`...`) and other labels at the same time",
        ),
        (
            "route:\n  receiver: team-X\n  continue: true\n" + BASE_RECEIVERS,
            "am.yml:3:3: route.continue",
            "cannot have continue in root route",
        ),
        (
            "route:\n  receiver: team-X\n  group_interval: 0s\n" + BASE_RECEIVERS,
            "am.yml:3:19: route.group_interval",
            "group_interval cannot be zero",
        ),
        (
            "route:\n  receiver: team-X\n  routes:\n    - repeat_interval: 0s\n" + BASE_RECEIVERS,
            "route.routes[0].repeat_interval",
            "repeat_interval cannot be zero",
        ),
        (
            "route:\n  receiver: team-X\n  matchers: ['a=b']\n" + BASE_RECEIVERS,
            "route",
            "root route must not have any matchers",
        ),
        (
            "route:\n  receiver: team-X\n  match: {a: b}\n" + BASE_RECEIVERS,
            "route",
            "root route must not have any matchers",
        ),
        (
            "route:\n  receiver: team-X\n  mute_time_intervals: [x]\n"
            + BASE_RECEIVERS
            + "time_intervals: [{name: x}]\n",
            "route.mute_time_intervals",
            "root route must not have any mute time intervals",
        ),
        (
            "route:\n  receiver: team-X\n  routes:\n    - mute_time_intervals: [nope]\n"
            + BASE_RECEIVERS,
            "am.yml:4:29: route.routes[0].mute_time_intervals",
            'undefined time interval "nope" used in route',
        ),
        (
            "route:\n  receiver: team-X\n  routes:\n    - active_time_intervals: [later]\n"
            + BASE_RECEIVERS,
            "route.routes[0].active_time_intervals",
            'undefined time interval "later" used in route',
        ),
        (
            "route:\n  receiver: team-X\n"
            + BASE_RECEIVERS
            + "time_intervals: [{name: x}]\nmute_time_intervals: [{name: x}]\n",
            "am.yml:5:25: time_intervals[0].name",
            'time interval "x" is not unique',
        ),
        (
            "route:\n  receiver: team-X\n  routes:\n    - matchers: ['foo=\"bar']\n"
            + BASE_RECEIVERS,
            "am.yml:4:23: route.routes[0].matchers",
            "unescaped double quote",
        ),
        (
            "route:\n  receiver: team-X\n  recevier: y\n" + BASE_RECEIVERS,
            "am.yml:3:3: route.recevier",
            'unknown field (did you mean "receiver"?)',
        ),
        (
            "route:\n  receiver: team-X\n" + BASE_RECEIVERS + "inhibit_rules:\n  - equal: ['1a']\n",
            "inhibit_rules[0].equal",
            'invalid label name "1a" in equal list',
        ),
        (
            "route:\n  receiver: team-X\n" + BASE_RECEIVERS + "  - {}\n",
            "am.yml:5:5: receivers[1]",
            "missing name in receiver",
        ),
        (
            "route:\n  receiver: team-X\nreceivers:\n  - name: team-X\n    webhook_configs: [{}]\n",
            "receivers[0].webhook_configs[0]",
            "one of url or url_file must be configured",
        ),
        (
            "route:\n  receiver: team-X\nreceivers:\n  - name: team-X\n    webhook_configs: [{url: 'ftp://x'}]\n",
            "receivers[0].webhook_configs[0].url",
            'unsupported scheme "ftp" for URL',
        ),
        (
            "route:\n  receiver: team-X\nreceivers:\n  - name: team-X\n    email_configs: [{to: a@b}]\n",
            "receivers[0].email_configs[0]",
            "no global SMTP smarthost set",
        ),
        (
            "route:\n  receiver: team-X\nreceivers:\n  - name: team-X\n    pagerduty_configs: [{}]\n",
            "receivers[0].pagerduty_configs[0]",
            "missing service or routing key in PagerDuty config",
        ),
        (
            "global: {resolve_timeout: 5x}\nroute:\n  receiver: team-X\n" + BASE_RECEIVERS,
            "am.yml:1:27: global.resolve_timeout",
            "not a valid duration",
        ),
        (
            "global: {smtp_smarthost: 'localhost'}\nroute:\n  receiver: team-X\n" + BASE_RECEIVERS,
            "global.smtp_smarthost",
            "missing port in address",
        ),
    ],
)
def test_rejected(text: str, where: str, reason: str) -> None:
    out = problems(text)
    assert where in out
    assert reason in out


def test_all_problems_are_collected() -> None:
    out = problems(
        "route:\n  receiver: nope\n  continue: true\nreceivers:\n  - name: a\n  - name: a\n"
    ).splitlines()
    assert len(out) == 3
    assert [line.split(":")[1] for line in out] == ["2", "3", "6"]


def test_valid_tree_options_inherited() -> None:
    cfg = parse_notify_config(
        """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 2h
  routes:
    - matchers: ['team="a"', 'sev=~"crit|page"']
      receiver: a
      group_by: []
      routes:
        - match: {env: prod}
          group_wait: 1s
          mute_time_intervals: [offhours]
    - matchers: ['{team="b", env!="dev"}']
      group_by: ['...']
      continue: true
      active_time_intervals: [offhours]
receivers: [{name: default}, {name: a}]
time_intervals:
  - name: offhours
    time_intervals: [{weekdays: [saturday, sunday]}]
""",
        "am.yml",
    )
    a, b = cfg.route.routes
    assert a.receiver == "a"
    assert a.group_by == ("alertname",)
    assert [str(m) for m in a.matchers] == ['sev=~"crit|page"', 'team="a"']
    (prod,) = a.routes
    assert (prod.receiver, prod.group_wait, prod.group_interval, prod.repeat_interval) == (
        "a",
        1.0,
        60.0,
        7200.0,
    )
    assert prod.mute_time_intervals == ("offhours",)
    assert prod.parent is a
    assert a.parent is cfg.route
    assert b.receiver == "default"
    assert b.group_by is None
    assert b.continue_
    assert [str(m) for m in b.matchers] == ['env!="dev"', 'team="b"']
    assert b.mute_time_intervals == ()
    assert b.active_time_intervals == ("offhours",)
    assert list(cfg.time_intervals) == ["offhours"]


def test_secrets_in_http_config_are_hidden() -> None:
    cfg = parse_notify_config(
        """
global:
  http_config: {basic_auth: {username: u, password: hunter2}}
route: {receiver: r}
receivers:
  - name: r
    webhook_configs:
      - url: http://hook.example/secretpath
        http_config: {authorization: {credentials: tok3n}}
      - url: http://hook2.example/
""",
        "am.yml",
    )
    text = render_config(cfg)
    for secret in ("hunter2", "tok3n", "secretpath", "hook2.example"):
        assert secret not in text
    assert text.count("<secret>") == 5  # global password, 2 urls, credentials, inherited password
    one, two = cfg.receivers["r"].webhook_configs
    assert one.http_config.authorization_type == "Bearer"
    assert one.http_config.authorization_credentials == "tok3n"
    assert two.http_config.basic_auth is not None
    assert two.http_config.basic_auth.password == "hunter2"


def test_unsupported_kinds_validated() -> None:
    out = problems(
        """
route: {receiver: r}
receivers:
  - name: r
    pushover_configs: [{user_key: k}]
    telegram_configs: [{bot_token: t}]
    webex_configs: [{room_id: x}]
    discord_configs: [{webhook_url: 'http://d.example/', webhook_url_file: /f}]
    victorops_configs: [{api_key: k, routing_key: r, custom_fields: {entity_id: x}}]
    opsgenie_configs: [{api_key: k, responders: [{name: n, type: robot}]}]
    jira_configs: [{api_url: 'http://j.example/', project: P}]
"""
    )
    for reason in (
        "one of token or token_file must be configured",
        "missing chat_id on telegram_config",
        "missing webex_configs.http_config.authorization",
        "at most one of webhook_url & webhook_url_file must be configured",
        "victorOps config contains custom field entity_id",
        "type does not match valid options",
        "missing issue_type in jira_config",
    ):
        assert reason in out
