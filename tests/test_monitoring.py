"""Monitoring as shipped: Prometheus config, alert rules and their unit tests, Alertmanager
routing, Grafana dashboards and runbooks, checked with promtool/amtool and against the metrics
the pool exports."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

from twisted.internet.task import Clock
from twisted.trial.unittest import FailTest, SkipTest, SynchronousTestCase

from tbgpool.blocks import BlockSubmitter, FoundBlock
from tbgpool.metrics import exported_metric_names
from tbgpool.testing import FakeTemplateSource

try:
    import yaml
except ImportError:  # a test dependency; see _load_yaml
    yaml = None

REPO = Path(__file__).resolve().parent.parent
PROMETHEUS_CONFIG = "etc/prometheus/prometheus.yml"
ALERT_RULES = "etc/prometheus/alerts/ckpool.yml"
ALERT_TESTS = "tests/prometheus/ckpool_alerts_test.yml"
ALERTMANAGER_CONFIG = "etc/alertmanager/alertmanager.yml"
DASHBOARDS = REPO / "etc" / "grafana" / "dashboards"
RUNBOOKS = REPO / "docs" / "runbooks"
RUNBOOK_URL = "https://runbooks.thebitcoingame.com/"
TOOL_TIMEOUT_S = 120

#: Spec phase 5 section 5.3: alert name -> (severity, `for:` duration).
SPEC_ALERTS = {
    "CKPoolProcessDown": ("critical", "30s"),
    "BitcoinCoreDesync": ("critical", "1m"),
    "ZeroSharesReceived": ("critical", "5m"),
    "BlockSubmitFailed": ("critical", None),
    "HighInvalidShareRate": ("warning", "10m"),
    "HighEventLatency": ("warning", "5m"),
    "RelayTemplateDelay": ("warning", "5m"),
    "HighMemoryUsage": ("warning", "10m"),
    "RelayIndependentMode": ("warning", "1m"),
}

#: Spec phase 5 section 5.2: dashboard file -> {panel title: allowed panel types}.
SPEC_PANELS = {
    "ckpool-overview.json": {
        "Connected Miners (global)": {"stat"},
        "Pool Hashrate": {"timeseries"},
        "Blocks Found (all time)": {"stat"},
        "Share Rate (global)": {"timeseries"},
        "Invalid Share %": {"gauge"},
        "Event Emission Latency": {"heatmap"},
        "Regional Distribution": {"piechart"},
    },
    "ckpool-per-region.json": {
        "Region Health": {"status-history", "state-timeline"},
        "Template Sync Latency": {"timeseries"},
        "Stale Share Rate": {"timeseries"},
        "NATS Replication Lag": {"timeseries"},
        "Independent Mode": {"status-history", "state-timeline", "stat"},
    },
    "bitcoin-core.json": {
        "Block Height": {"stat"},
        "Sync Status": {"stat", "status-history", "state-timeline"},
        "Mempool Size": {"timeseries"},
        "RPC Latency": {"timeseries"},
        "Peer Count": {"stat"},
    },
}

#: Metrics the overview's "Pool internals" row must show.
POOL_INTERNALS = {
    "ckpool_share_rtt_us",
    "ckpool_share_rejects_total",
    "ckpool_block_notify_latency_ms",
    "ckpool_template_age_seconds",
    "ckpool_events_dropped_total",
    "ckpool_events_queued",
    "ckpool_limit_hits_total",
    "ckpool_memory_bytes",
    "ckpool_uptime_seconds",
    "ckpool_block_submit_failures_total",
}

#: Series Prometheus makes itself, allowed in queries besides the pool's own.
PROMETHEUS_SERIES = frozenset({"up"})

_PROMQL_WORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
        "atan2",
    }
)
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _missing(what: str) -> NoReturn:
    """Skip a check whose tool is absent; in CI (env CI set) a missing tool is a failure."""
    if os.environ.get("CI"):
        raise FailTest(f"{what} is required in CI (.ci/run must install it)")
    raise SkipTest(f"{what} not installed")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(name)
    return path


def _load_yaml(relative: str) -> Any:
    if yaml is None:
        _missing("PyYAML")
    with open(REPO / relative, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _run(test: SynchronousTestCase, *argv: str) -> str:
    """Run a checker from the repository root; fail the test with its output unless it exits 0."""
    done = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False
    )
    output = done.stdout + done.stderr
    test.assertEqual(done.returncode, 0, f"{' '.join(argv)} exited {done.returncode}:\n{output}")
    return output


def _exported() -> frozenset[str]:
    return frozenset(exported_metric_names()) | PROMETHEUS_SERIES


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (histogram suffixes kept as written)."""
    if "__name__" in expr:
        raise ValueError(f"selects metrics by __name__, which cannot be checked: {expr}")
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.$])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, is_call = match.group(1), match.group(2)
        if is_call or name.lower() in _PROMQL_WORDS:
            continue
        names.add(name)
    return names


def unknown_metrics(expr: str, exported: frozenset[str]) -> set[str]:
    """Names in ``expr`` that are neither exported nor a histogram series of an exported name."""
    unknown = set()
    for name in metric_names(expr):
        if name in exported:
            continue
        base = next((name[: -len(s)] for s in _HISTOGRAM_SUFFIXES if name.endswith(s)), None)
        if base is None or base not in exported:
            unknown.add(name)
    return unknown


def _alert_rules() -> list[dict[str, Any]]:
    rules = _load_yaml(ALERT_RULES)
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def _dashboards() -> dict[str, dict[str, Any]]:
    boards = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        with open(path, encoding="utf-8") as f:
            boards[path.name] = json.load(f)
    return boards


def _panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in board["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # collapsed rows keep theirs inside
    return panels


def _exprs(board: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (panel["title"], target["expr"])
        for panel in _panels(board)
        for target in panel.get("targets", [])
    ]


def _runbook_slug(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class MetricNameExtractionTests(SynchronousTestCase):
    """The PromQL scan the dashboard and alert checks rely on."""

    def test_names_inside_functions_and_aggregations(self) -> None:
        """metric names are found under functions, aggregations and binary operators"""
        expr = (
            "histogram_quantile(0.99, sum by (instance, le) "
            '(rate(ckpool_share_rtt_us_bucket{job="ckpool", reason=~"up|down"}[5m]))) '
            '> 5000 and on(instance) ckpool_memory_bytes / 1024 unless absent(up{job="x"})'
        )
        self.assertEqual(
            metric_names(expr), {"ckpool_share_rtt_us_bucket", "ckpool_memory_bytes", "up"}
        )

    def test_label_values_durations_and_offsets_are_not_names(self) -> None:
        """label values, grouping labels, durations and offsets are not taken for metrics"""
        expr = 'sum without (valid) (increase(x_total{a="rate(y)"}[1h] offset 5m)) > bool 1e3'
        self.assertEqual(metric_names(expr), {"x_total"})

    def test_name_selector_refused(self) -> None:
        """a {__name__=...} selector cannot be checked and is refused"""
        self.assertRaises(ValueError, metric_names, '{__name__=~"ckpool_.*"}')

    def test_unknown_metric_reported(self) -> None:
        """names the pool does not export are reported; histogram series of exported ones pass"""
        exported = frozenset({"ckpool_a_us", "up"})
        self.assertEqual(
            unknown_metrics("rate(ckpool_a_us_bucket[5m]) + ckpool_b + up", exported), {"ckpool_b"}
        )


class PrometheusConfigTests(SynchronousTestCase):
    """etc/prometheus/prometheus.yml."""

    def test_promtool_accepts_config(self) -> None:
        """promtool check config accepts the scrape config and the rule file it names"""
        _run(self, _tool("promtool"), "check", "config", PROMETHEUS_CONFIG)

    def test_scrapes_pool_with_regions(self) -> None:
        """job ckpool scrapes 127.0.0.1:9100/metrics, every target group with a region label"""
        config = _load_yaml(PROMETHEUS_CONFIG)
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        ckpool = jobs["ckpool"]
        self.assertEqual(ckpool.get("metrics_path", "/metrics"), "/metrics")
        targets = [t for group in ckpool["static_configs"] for t in group["targets"]]
        self.assertIn("127.0.0.1:9100", targets)
        regions = {group.get("labels", {}).get("region") for group in ckpool["static_configs"]}
        self.assertEqual(regions, {"eu", "us-east", "asia"})
        self.assertEqual(config["rule_files"], ["alerts/ckpool.yml"])
        self.assertTrue(config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"])

    def test_node_exporter_moved_off_pool_port(self) -> None:
        """the node_exporter example does not collide with the pool's port 9100"""
        config = _load_yaml(PROMETHEUS_CONFIG)
        node = [job for job in config["scrape_configs"] if job["job_name"] == "node"]
        self.assertEqual(len(node), 1)
        targets = [t for group in node[0]["static_configs"] for t in group["targets"]]
        self.assertEqual(targets, ["127.0.0.1:9101"])


class AlertRuleTests(SynchronousTestCase):
    """etc/prometheus/alerts/ckpool.yml and its promtool unit tests."""

    def test_promtool_accepts_rules(self) -> None:
        """promtool check rules accepts the alert rules (including its duplicate-rule lint)"""
        _run(self, _tool("promtool"), "check", "rules", ALERT_RULES)

    def test_promtool_unit_tests_pass(self) -> None:
        """every alert fires on its firing series and stays quiet on the others"""
        output = _run(self, _tool("promtool"), "test", "rules", ALERT_TESTS)
        self.assertIn("SUCCESS", output)

    def test_unit_tests_cover_every_alert(self) -> None:
        """each alert has a unit test expecting it to fire and one expecting it quiet"""
        suite = _load_yaml(ALERT_TESTS)
        self.assertEqual(suite["rule_files"], ["../../" + ALERT_RULES])
        firing: set[str] = set()
        quiet: set[str] = set()
        for test in suite["tests"]:
            for case in test["alert_rule_test"]:
                (firing if case["exp_alerts"] else quiet).add(case["alertname"])
        names = {rule["alert"] for rule in _alert_rules()}
        self.assertEqual(firing, names)
        self.assertEqual(quiet, names)

    def test_spec_alerts_with_severity_and_duration(self) -> None:
        """every alert of spec 5.3 exists with the spec's severity and `for:` duration"""
        rules = _alert_rules()
        for name, (severity, duration) in SPEC_ALERTS.items():
            matching = [rule for rule in rules if rule["alert"] == name]
            self.assertEqual(len(matching), 1, name)
            self.assertEqual(matching[0]["labels"]["severity"], severity, name)
            self.assertEqual(_seconds(matching[0].get("for")), _seconds(duration), name)

    def test_annotations_link_runbooks(self) -> None:
        """every alert has a summary, a runbook URL and a runbook_path to an existing file"""
        for rule in _alert_rules():
            annotations = rule["annotations"]
            self.assertTrue(annotations["summary"], rule["alert"])
            self.assertTrue(annotations["runbook"].startswith(RUNBOOK_URL), rule["alert"])
            slug = _runbook_slug(annotations["runbook"])
            self.assertEqual(annotations["runbook_path"], f"docs/runbooks/{slug}.md")
            self.assertTrue((REPO / annotations["runbook_path"]).is_file(), rule["alert"])

    def test_critical_runbooks_name_their_alert(self) -> None:
        """each critical alert's runbook exists under its slug and names the alert"""
        critical = [rule for rule in _alert_rules() if rule["labels"]["severity"] == "critical"]
        self.assertEqual(
            {rule["alert"] for rule in critical},
            {n for n, (s, _) in SPEC_ALERTS.items() if s == "critical"},
        )
        for rule in critical:
            path = RUNBOOKS / f"{_runbook_slug(rule['annotations']['runbook'])}.md"
            self.assertIn(rule["alert"], path.read_text(encoding="utf-8"), str(path))

    def test_rules_use_exported_metrics(self) -> None:
        """alert expressions name only metrics the pool exports (or Prometheus' up)"""
        exported = _exported()
        for rule in _alert_rules():
            self.assertTrue(metric_names(rule["expr"]), rule["alert"])
            self.assertEqual(unknown_metrics(rule["expr"], exported), set(), rule["alert"])


def _seconds(duration: str | None) -> int:
    """Seconds in a Prometheus duration such as "1m" or "30s" (None and "0s" are 0)."""
    if not duration:
        return 0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", duration))


class AlertmanagerTests(SynchronousTestCase):
    """etc/alertmanager/alertmanager.yml."""

    def _receiver_for(self, config: dict[str, Any], severity: str) -> dict[str, Any]:
        routes = [
            r
            for r in config["route"]["routes"]
            if f'severity="{severity}"' in r.get("matchers", [])
        ]
        self.assertEqual(len(routes), 1, severity)
        receivers = {r["name"]: r for r in config["receivers"]}
        return receivers[routes[0]["receiver"]]

    def test_amtool_accepts_config(self) -> None:
        """amtool check-config accepts the routing config"""
        amtool = shutil.which("amtool")
        if amtool is None:
            raise SkipTest("amtool not installed (Debian package prometheus-alertmanager)")
        _run(self, amtool, "check-config", ALERTMANAGER_CONFIG)

    def test_amtool_routes_severities(self) -> None:
        """amtool routes critical, warning and info alerts to their receivers"""
        amtool = shutil.which("amtool")
        if amtool is None:
            raise SkipTest("amtool not installed (Debian package prometheus-alertmanager)")
        for labels, receiver in [
            (["alertname=BlockSubmitFailed", "severity=critical"], "oncall-critical"),
            (["alertname=HighMemoryUsage", "severity=warning"], "mining-alerts-warning"),
            (["alertname=BlockFound", "severity=info"], "mining-monitoring-info"),
        ]:
            _run(
                self,
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={ALERTMANAGER_CONFIG}",
                f"--verify.receivers={receiver}",
                *labels,
            )

    def test_severity_receivers(self) -> None:
        """critical pages PagerDuty, warning posts to #mining-alerts, info to #mining-monitoring"""
        config = _load_yaml(ALERTMANAGER_CONFIG)
        critical = self._receiver_for(config, "critical")
        pagerduty = critical["pagerduty_configs"][0]
        self.assertEqual(pagerduty["severity"], "critical")
        self.assertTrue(
            pagerduty.get("routing_key_file")
            or pagerduty.get("routing_key") == "<PAGERDUTY_ROUTING_KEY>"
        )
        warning = self._receiver_for(config, "warning")
        self.assertEqual([s["channel"] for s in warning["slack_configs"]], ["#mining-alerts"])
        info = self._receiver_for(config, "info")
        self.assertEqual([s["channel"] for s in info["slack_configs"]], ["#mining-monitoring"])
        self.assertNotIn("pagerduty_configs", info)

    def test_grouping_and_inhibition(self) -> None:
        """alerts group by alertname and instance; a dead pool silences its warnings"""
        config = _load_yaml(ALERTMANAGER_CONFIG)
        self.assertEqual(config["route"]["group_by"], ["alertname", "instance"])
        self.assertIn(
            {
                "source_matchers": ['alertname="CKPoolProcessDown"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["instance"],
            },
            config["inhibit_rules"],
        )

    def test_no_secrets_inline(self) -> None:
        """keys and webhook URLs are read from files, never written in the config"""
        text = (REPO / ALERTMANAGER_CONFIG).read_text(encoding="utf-8")
        self.assertNotRegex(text, r"(?m)^\s*(routing_key|service_key|api_url|slack_api_url):")
        self.assertNotIn("hooks.slack.com", text)


class DashboardTests(SynchronousTestCase):
    """etc/grafana/dashboards/*.json."""

    def test_dashboards_importable(self) -> None:
        """each dashboard is schema 39 with a DS_PROMETHEUS input, a unique uid and variables"""
        boards = _dashboards()
        self.assertEqual(set(boards), set(SPEC_PANELS))
        uids = set()
        for name, board in boards.items():
            self.assertEqual(board["schemaVersion"], 39, name)
            self.assertEqual([i["name"] for i in board["__inputs"]], ["DS_PROMETHEUS"], name)
            self.assertEqual(board["__inputs"][0]["pluginId"], "prometheus", name)
            self.assertIsNone(board["id"], name)
            self.assertTrue(board["title"], name)
            self.assertLessEqual(len(board["uid"]), 40, name)
            uids.add(board["uid"])
            variables = {v["name"]: v for v in board["templating"]["list"]}
            for variable in ("region", "instance"):
                self.assertTrue(variables[variable]["definition"].startswith("label_values("))
                self.assertEqual(variables[variable]["allValue"], ".*", name)
        self.assertEqual(len(uids), len(boards))

    def test_panels_well_formed(self) -> None:
        """panels have unique ids, fit the 24-column grid and query the DS_PROMETHEUS input"""
        source = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        for name, board in _dashboards().items():
            panels = _panels(board)
            self.assertEqual(len({p["id"] for p in panels}), len(panels), name)
            for panel in panels:
                grid = panel["gridPos"]
                self.assertLessEqual(grid["x"] + grid["w"], 24, panel["title"])
                if panel["type"] == "row":
                    continue
                self.assertEqual(panel["datasource"], source, panel["title"])
                self.assertTrue(panel["targets"], panel["title"])
                for target in panel["targets"]:
                    self.assertEqual(target["datasource"], source, panel["title"])

    def test_spec_panels(self) -> None:
        """each dashboard holds the panels of spec 5.2 with their panel types"""
        for name, board in _dashboards().items():
            types = {p["title"]: p["type"] for p in _panels(board)}
            for title, allowed in SPEC_PANELS[name].items():
                self.assertIn(types.get(title), allowed, f"{name}: {title}")

    def test_pool_internals_row(self) -> None:
        """the overview's "Pool internals" row shows latency, rejects, events, limits and memory"""
        panels = _dashboards()["ckpool-overview.json"]["panels"]
        rows = [i for i, p in enumerate(panels) if p["type"] == "row"]
        start = [i for i in rows if panels[i]["title"] == "Pool internals"]
        self.assertEqual(len(start), 1)
        shown: set[str] = set()
        for panel in panels[start[0] + 1 :]:
            if panel["type"] == "row":
                break
            for target in panel["targets"]:
                shown |= {re.sub(r"_bucket$", "", n) for n in metric_names(target["expr"])}
        self.assertEqual(POOL_INTERNALS - shown, set())

    def test_heatmap_and_regional_queries(self) -> None:
        """the latency heatmap rates buckets by le; the regional pie sums miners by region"""
        panels = {p["title"]: p for p in _panels(_dashboards()["ckpool-overview.json"])}
        heat = panels["Event Emission Latency"]["targets"][0]
        self.assertEqual(heat["format"], "heatmap")
        self.assertRegex(
            heat["expr"], r"^sum by \(le\) \(rate\(ckpool_event_emit_latency_us_bucket\{"
        )
        pie = panels["Regional Distribution"]["targets"][0]["expr"]
        self.assertRegex(pie, r"^sum by \(region\) \(ckpool_connected_miners\{")

    def test_queries_use_exported_metrics(self) -> None:
        """every panel query names only metrics the pool exports (or Prometheus' up)"""
        exported = _exported()
        for name, board in _dashboards().items():
            for title, expr in _exprs(board):
                self.assertTrue(metric_names(expr), f"{name}: {title}")
                self.assertEqual(unknown_metrics(expr, exported), set(), f"{name}: {title}")

    def test_queries_parse(self) -> None:
        """promtool parses every panel query (Grafana variables filled in) as a recording rule"""
        promtool = _tool("promtool")
        rules = []
        for board in _dashboards().values():
            for index, (_, expr) in enumerate(_exprs(board)):
                concrete = (
                    expr.replace("$__rate_interval", "5m")
                    .replace("$__range", "1h")
                    .replace("$__interval", "1m")
                )
                concrete = re.sub(r"\$\{?\w+\}?", ".*", concrete)
                record = f"dashboard:{board['uid'].replace('-', '_')}:query{index}"
                rules.append({"record": record, "expr": concrete})
        self.assertGreater(len(rules), 20)
        path = Path(os.path.abspath(self.mktemp() + ".yml"))
        # JSON is YAML: promtool reads it as a rule file.
        path.write_text(json.dumps({"groups": [{"name": "dashboards", "rules": rules}]}))
        _run(self, promtool, "check", "rules", str(path))


class RunbookTests(SynchronousTestCase):
    """docs/runbooks and docs/monitoring.md."""

    def test_index_lists_every_runbook(self) -> None:
        """docs/runbooks/README.md links every runbook in the folder"""
        index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
        for path in RUNBOOKS.glob("*.md"):
            if path.name != "README.md":
                self.assertIn(f"({path.name})", index)

    def test_block_runbook_matches_block_files(self) -> None:
        """the block runbook names the file and every field BlockSubmitter really writes"""
        directory = os.path.abspath(self.mktemp())
        source = FakeTemplateSource()
        source.answers.append("high-hash")
        submitter = BlockSubmitter(Clock(), source, directory)
        block = FoundBlock(
            block_hash="ab" * 32,
            height=840000,
            block_hex="00" * 80,
            address="bc1qexample",
            worker="rig1",
            share_difficulty=5.0,
            network_difficulty=1.0,
            job_id="1f",
            found_at=0.0,
        )
        submitter.submit(block)
        self.assertEqual(os.listdir(directory), [f"840000-{'ab' * 32}.json"])
        with open(os.path.join(directory, os.listdir(directory)[0]), encoding="ascii") as f:
            record = json.load(f)
        self.assertEqual((record["status"], record["result"]), ("rejected", "high-hash"))
        text = (RUNBOOKS / "block-submit-failed.md").read_text(encoding="utf-8")
        self.assertIn("$LOGDIR/blocks/<height>-<block_hash>.json", text)
        for field in record:
            self.assertIn(f"`{field}`", text)
        for status in ("pending", "accepted", "rejected"):
            self.assertIn(f'"{status}"', text)
        self.assertIn('jq -r .block_hex "$F" | bitcoin-cli -stdin submitblock', text)

    def test_monitoring_doc_lists_every_metric(self) -> None:
        """docs/monitoring.md explains every metric the pool exports"""
        text = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
        for name in sorted(exported_metric_names()):
            self.assertIn(f"`{name}`", text)
