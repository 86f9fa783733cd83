"""Loading configs: defaults, inheritance, real prometheus.yml files, positioned errors."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from vigil.config import (
    Authorization,
    ConfigError,
    Duration,
    RelabelAction,
    Secret,
    load_config,
    parse_config,
)

DEBIAN_EXAMPLES = [
    Path("/etc/prometheus/prometheus.yml"),
    Path("/usr/share/doc/prometheus/examples/prometheus.yml"),
]


def cfg(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def errors_of(text: str, filename: str = "vigil.yml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(cfg(text), filename)
    return info.value.format().splitlines()


def test_empty_config_is_all_defaults() -> None:
    for text in ("", "# nothing\n", "{}", "global:\n"):
        c = parse_config(text)
        assert c.scrape_configs == ()
        assert c.global_config.scrape_interval == Duration(60_000)
        assert c.global_config.scrape_timeout == Duration(10_000)
        assert c.global_config.evaluation_interval == Duration(60_000)


@pytest.mark.parametrize("path", [p for p in DEBIAN_EXAMPLES if p.exists()], ids=str)
def test_real_prometheus_yml_loads_unchanged(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="vigil.config"):
        c = load_config(path)
    assert c.scrape_configs
    assert c.scrape_configs[0].job_name == "prometheus"
    assert c.global_config.scrape_interval == Duration(15_000)
    assert any("alerting" in n for n in c.ignored)
    assert "alerting" in caplog.text


def test_kubernetes_style_prometheus_yml() -> None:
    c = parse_config(
        cfg(
            """
            global:
              scrape_interval: 30s
              external_labels: {cluster: eu1}
            rule_files: ["rules/*.yml"]
            remote_write:
              - url: http://vm:8428/api/v1/write
            scrape_configs:
              - job_name: kubernetes-pods
                kubernetes_sd_configs:
                  - role: pod
                relabel_configs:
                  - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
                    action: keep
                    regex: true
                  - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
                    action: replace
                    regex: ([^:]+)(?::\\d+)?;(\\d+)
                    replacement: $1:$2
                    target_label: __address__
                  - action: labelmap
                    regex: __meta_kubernetes_pod_label_(.+)
                  - action: labeldrop
                    regex: pod_template_hash
            """
        )
    )
    (sc,) = c.scrape_configs
    assert sc.scrape_interval == Duration(30_000)
    assert sc.scrape_timeout == Duration(10_000)
    assert [r.action for r in sc.relabel_configs] == [
        RelabelAction.KEEP,
        RelabelAction.REPLACE,
        RelabelAction.LABELMAP,
        RelabelAction.LABELDROP,
    ]
    assert sc.relabel_configs[0].regex == "true"  # a YAML bool read as its text
    assert sc.relabel_configs[1].regex == r"([^:]+)(?::\d+)?;(\d+)"
    assert c.global_config.external_labels == {"cluster": "eu1"}
    notes = " ".join(c.ignored)
    assert "kubernetes_sd_configs" in notes
    assert "rule_files" not in notes
    assert c.rule_files == ("rules/*.yml",)
    assert "remote_write" in notes


def test_rule_files_resolve_against_the_config_folder_and_globs_only_in_the_last_element(
    tmp_path: Path,
) -> None:
    c = parse_config(
        "rule_files: [alerts.yml, 'rules/*.yml', /etc/vigil/r.yml]\n", base_dir=str(tmp_path)
    )
    assert c.rule_files == (
        str(tmp_path / "alerts.yml"),
        str(tmp_path / "rules" / "*.yml"),
        "/etc/vigil/r.yml",
    )
    with pytest.raises(ConfigError) as err:
        parse_config("rule_files:\n  - ok.yml\n  - 'r*/x.yml'\n", "p.yml")
    assert str(err.value) == (
        "p.yml:3:5: rule_files[1]: 'r*/x.yml': wildcards are only allowed in the last path element"
    )


def test_everything_vigil_implements(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("pw")
    path = tmp_path / "vigil.yml"
    path.write_text(
        cfg(
            """
            global:
              scrape_interval: 20s
              scrape_timeout: 15s
              sample_limit: 1000
              body_size_limit: 1MB
            storage:
              retention_time: 30d
              retention_size: 10GB
            scrape_configs:
              - job_name: api
                scrape_interval: 5s
                metrics_path: /prom
                scheme: https
                params:
                  module: [http_2xx, extra]
                honor_labels: true
                honor_timestamps: false
                basic_auth:
                  username: u
                  password_file: secret
                tls_config:
                  ca_file: /etc/ca.pem
                  cert_file: certs/c.pem
                  key_file: certs/k.pem
                  server_name: api.internal
                  insecure_skip_verify: yes
                static_configs:
                  - targets: ["a:1", "b:2"]
                    labels: {env: prod}
                file_sd_configs:
                  - files: ["sd/*.json", "/abs/x.yml"]
                    refresh_interval: 1m
                metric_relabel_configs:
                  - source_labels: [__name__]
                    regex: go_.*
                    action: drop
                sample_limit: 50
                label_limit: 30
                label_name_length_limit: 100
                label_value_length_limit: 200
                body_size_limit: 10MB
                target_limit: 5
              - job_name: token
                bearer_token: s3cret
            """
        )
    )
    c = load_config(path)
    g = c.global_config
    assert (g.scrape_interval, g.scrape_timeout, g.sample_limit) == (
        Duration(20_000),
        Duration(15_000),
        1000,
    )
    assert c.storage.retention_time == Duration(30 * 86_400_000)
    assert c.storage.retention_size == 10 << 30
    api, token = c.scrape_configs
    assert api.scrape_interval == Duration(5000)
    assert api.scrape_timeout == Duration(5000)  # min(global timeout, interval)
    assert (api.metrics_path, api.scheme) == ("/prom", "https")
    assert api.params == {"module": ("http_2xx", "extra")}
    assert api.honor_labels
    assert not api.honor_timestamps
    assert api.basic_auth is not None
    assert api.basic_auth.password_file == str(tmp_path / "secret")
    assert api.tls_config.ca_file == "/etc/ca.pem"
    assert api.tls_config.cert_file == str(tmp_path / "certs/c.pem")
    assert api.tls_config.insecure_skip_verify
    assert api.static_configs[0].targets == ("a:1", "b:2")
    assert api.static_configs[0].labels == {"env": "prod"}
    assert api.file_sd_configs[0].files == (str(tmp_path / "sd/*.json"), "/abs/x.yml")
    assert api.file_sd_configs[0].refresh_interval == Duration(60_000)
    assert api.metric_relabel_configs[0].action is RelabelAction.DROP
    assert (api.sample_limit, api.label_limit, api.target_limit) == (50, 30, 5)
    assert api.body_size_limit == 10 << 20
    assert token.sample_limit == 1000  # inherited from global
    assert token.body_size_limit == 1 << 20
    assert token.scrape_timeout == Duration(15_000)
    assert token.bearer_token == Secret("s3cret")
    assert token.authorization == Authorization(type="Bearer", credentials=Secret("s3cret"))
    assert "s3cret" not in repr(c)
    assert "<secret>" in repr(token)


def test_prometheus_storage_section_maps_retention() -> None:
    c = parse_config(
        "storage:\n  tsdb:\n    retention:\n      time: 7d\n      size: 1GB\n  exemplars: {max_exemplars: 5}\n"
    )
    assert c.storage.retention_time == Duration(7 * 86_400_000)
    assert c.storage.retention_size == 1 << 30


def test_scrape_timeout_defaults_to_interval_when_shorter() -> None:
    c = parse_config(
        "global: {scrape_interval: 5s}\nscrape_configs: [{job_name: a, scrape_interval: 2s}]\n"
    )
    assert c.global_config.scrape_timeout == Duration(5000)
    assert c.scrape_configs[0].scrape_timeout == Duration(2000)


def test_errors_have_file_line_col_and_field_path() -> None:
    lines = errors_of(
        """
        global:
          scrape_interval: 15s
          scrape_timout: 5s
        scrape_configs:
          - job_name: a
            scrape_interval: 5s
            scrape_timeout: 6s
            relabel_configs:
              - action: hashmod
                source_labels: [a]
                target_label: b
              - action: foo
              - regex: "a("
          - job_name: a
          - job_name: b
            scrape_interval: 1.5s
            sample_limit: -3
            body_size_limit: 10M
            honor_labels: maybe
        """
    )
    assert lines == [
        'vigil.yml:3:3: global.scrape_timout: unknown field (did you mean "scrape_timeout"?)',
        "vigil.yml:7:21: scrape_configs[0].scrape_timeout: scrape timeout (6s) greater than "
        "scrape interval (5s) for scrape config with job name 'a'",
        "vigil.yml:9:9: scrape_configs[0].relabel_configs[0]: relabel configuration for hashmod "
        "requires non-zero modulus",
        "vigil.yml:12:17: scrape_configs[0].relabel_configs[1].action: unknown relabel action "
        "'foo' (one of replace, keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, "
        "labelkeep, lowercase, uppercase)",
        "vigil.yml:13:16: scrape_configs[0].relabel_configs[2].regex: invalid regular expression "
        "'a(': missing ): ^(?:a()$",
        "vigil.yml:14:15: scrape_configs[1].job_name: found multiple scrape configs with job name "
        "'a' (first is scrape_configs[0])",
        "vigil.yml:16:22: scrape_configs[2].scrape_interval: not a valid duration string: '1.5s' "
        "(examples: 15s, 1m, 1h30m, 100ms)",
        "vigil.yml:17:19: scrape_configs[2].sample_limit: expected a whole number >= 0, got '-3'",
        "vigil.yml:18:22: scrape_configs[2].body_size_limit: unknown unit 'M' in size '10M' "
        "(use B, KB, MB, GB, ...)",
        "vigil.yml:19:19: scrape_configs[2].honor_labels: expected true or false, got 'maybe'",
    ]


def test_config_error_is_a_vigil_error_with_first_position() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("scrape_configs:\n  - job_name: ''\n", "x.yml")
    err = info.value
    assert err.position is not None
    assert (err.position.line, err.position.col) == (2, 15)
    assert str(err) == "x.yml:2:15: scrape_configs[0].job_name: job_name is empty"


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("global: [1, 2]\n", "1:9", "global: expected a mapping, got a list"),
        ("scrape_configs: {a: 1}\n", "1:17", "scrape_configs: expected a list"),
        ("scrape_configs:\n  - ~\n", "2:5", "empty or null scrape config section"),
        (
            "scrape_configs:\n  - job_name: a\n    job_name: b\n",
            "3:5",
            "duplicate key (first set on line 2)",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs: [~]\n",
            "3:23",
            "empty or null relabeling rule",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://h/x']\n",
            "4:19",
            "'http://h/x' is not a valid hostname",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels: {1x: y}\n",
            "4:18",
            "'1x' is not a valid label name",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: [a.txt]\n",
            "4:17",
            "path name 'a.txt' is not valid for file discovery",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: []\n",
            "4:9",
            "must contain at least one path name",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    scheme: ftp\n",
            "3:13",
            "scheme must be http or https",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    tls_config: {cert_file: x}\n",
            "3:17",
            "needs a key",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    basic_auth: {username: x, password: y, password_file: z}\n",
            "3:17",
            "at most one of basic_auth password & password_file",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    authorization: {credentials: y}\n",
            "4:20",
            "authorization is not compatible with bearer_token",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    authorization: {type: basic}\n",
            "3:27",
            'use "basic_auth" instead',
        ),
        (
            "scrape_configs:\n  - job_name: a\n    proxy_url: '::bad'\n",
            "3:16",
            "missing protocol scheme",
        ),
        ("scrape_configs:\n  - job_name: a\n    params: {a: b}\n", "3:17", "expected a list"),
        ("global:\n  external_labels: {a-b: c}\n", "2:21", "'a-b' is not a valid label name"),
        (
            "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n",
            "3:19",
            "global scrape timeout (6s) greater than scrape interval (5s)",
        ),
        (
            "scrape_config:\n  - job_name: a\n",
            "1:1",
            'unknown field (did you mean "scrape_configs"?)',
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: replace, target_label: 1x}\n",
            "4:9",
            "'1x' is invalid 'target_label' for replace action",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: labelmap, replacement: 1x}\n",
            "4:9",
            "'1x' is invalid 'replacement' for labelmap action",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: labeldrop, regex: a, target_label: b}\n",
            "4:9",
            "labeldrop action requires only 'regex'",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: keepequal, source_labels: [a], target_label: b, regex: x}\n",
            "4:9",
            "keepequal action requires only",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: lowercase, source_labels: [a], target_label: b, replacement: x}\n",
            "4:9",
            "'replacement' can not be set for lowercase action",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [a-b], target_label: c}\n",
            "4:26",
            "'a-b' is not a valid label name",
        ),
        (
            "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {action: ''}\n",
            "4:18",
            "relabel action cannot be empty",
        ),
        ("key: [unclosed\n", "2:1", "YAML syntax"),
        ("a: b\n c: d\n", "2:3", "YAML syntax"),
    ],
)
def test_single_errors(text: str, where: str, what: str) -> None:
    lines = errors_of(text, "f.yml")
    assert any(line.startswith(f"f.yml:{where}: ") and what in line for line in lines), lines


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file: No such file"):
        load_config(tmp_path / "nope.yml")


def test_anchors_and_merge_keys() -> None:
    c = parse_config(
        cfg(
            """
            x-common: &common
              scrape_interval: 7s
              metrics_path: /m
            scrape_configs:
              - <<: *common
                job_name: a
                metrics_path: /own
            """
        ).replace("x-common", "tracing")
    )
    (a,) = c.scrape_configs
    assert a.scrape_interval == Duration(7000)
    assert a.metrics_path == "/own"


def test_deep_nesting_is_a_config_error() -> None:
    deep = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ConfigError):
        parse_config(deep)


def test_secret_never_prints() -> None:
    s = Secret("hunter2")
    assert str(s) == repr(s) == "<secret>"
    assert f"{s}" == "<secret>"
    assert s.reveal() == "hunter2"
    assert s == Secret("hunter2")
    assert s != Secret("x")
