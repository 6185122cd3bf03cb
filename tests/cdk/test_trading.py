"""Trading stack: one Fargate service per configured trader, in a VPC without a NAT gateway
(a public IP per task) unless a fixed egress IP is asked for; least-privilege task roles,
secrets that never reach the environment, a heartbeat alarm per trader; clear errors for a
bad ``traders`` entry at synth; and nothing at all when no trader is configured."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from cdk.config import StageConfig, TraderConfig
from cdk.trading import TABLE_ACTIONS, trader_command
from tradpal.errors import ConfigError
from tradpal.platform.observability import METRICS_NAMESPACE
from tradpal.trading.heartbeat import HEARTBEAT_METRIC, HEARTBEAT_PERIOD_S, heartbeat_emf

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

PAPER = {
    "id": "btc-ema",
    "strategy": "ema_crossover",
    "symbol": "BTC/USDT",
    "timeframe": "1h",
    "params": {"fast": 12, "slow": 26},
    "capital": 1000,
}
LIVE = {
    "id": "eth-live",
    "strategy": "confluence",
    "symbol": "ETH/USDT",
    "timeframe": "4h",
    "exchange": "kraken",
    "mode": "live",
}


@dataclass(frozen=True)
class Synth:
    outdir: Path
    templates: dict[str, dict]

    def resources(self, role: str, type_: str) -> dict[str, dict]:
        return {k: v for k, v in self.templates[role]["Resources"].items() if v["Type"] == type_}

    def one(self, role: str, type_: str) -> dict:
        (found,) = self.resources(role, type_).values()
        return found["Properties"]

    def by_trader(self, type_: str) -> dict[str, dict]:
        """Trader id -> properties of its resource of ``type_`` (ids are the scopes)."""
        out = {}
        for logical, res in self.resources("trading", type_).items():
            for tid in ("btc-ema", "eth-live"):
                if logical.startswith(tid.replace("-", "")):
                    out[tid] = res["Properties"]
        return out


def _synth(outdir: Path, context: dict[str, Any]) -> Synth:
    from cdk.app import build_app

    built = build_app(context, outdir=str(outdir))
    assembly = built.app.synth()  # cdk-nag findings fail here
    return Synth(
        outdir,
        {
            role: assembly.get_stack_by_name(stack.stack_name).template
            for role, stack in built.stacks_by_role.items()
        },
    )


@pytest.fixture(scope="module")
def traders(tmp_path_factory) -> Synth:
    """Dev with a paper trader and a live one (live trading enabled), no fixed egress IP."""
    return _synth(
        tmp_path_factory.mktemp("cdk-traders"),
        {"stage": "dev", "live_trading": True, "traders": [PAPER, LIVE]},
    )


@pytest.fixture(scope="module")
def egress(tmp_path_factory) -> Synth:
    """Prod with a fixed egress IP, given as the command line gives it (strings)."""
    return _synth(
        tmp_path_factory.mktemp("cdk-egress"),
        {"stage": "prod", "fixed_egress_ip": "true", "traders": json.dumps([PAPER])},
    )


def _ref(logical: str) -> dict:
    return {"Ref": logical}


# -- nothing without traders ------------------------------------------------------------------


def test_no_trading_stack_and_no_ecs_without_traders(synth_dev):
    assert synth_dev.built.trading is None
    assert "trading" not in synth_dev.templates
    for template in synth_dev.templates.values():
        types = {r["Type"] for r in template["Resources"].values()}
        assert not {t for t in types if t.startswith(("AWS::ECS::", "AWS::EC2::"))}
    alarms = synth_dev.resources("monitoring", "AWS::CloudWatch::Alarm").values()
    assert all(a["Properties"].get("MetricName") != HEARTBEAT_METRIC for a in alarms)


# -- network ----------------------------------------------------------------------------------


def test_dev_has_public_subnets_only_no_nat_and_tasks_get_a_public_ip(traders):
    for type_ in ("AWS::EC2::NatGateway", "AWS::EC2::EIP"):
        assert traders.resources("trading", type_) == {}
    subnets = traders.resources("trading", "AWS::EC2::Subnet")
    assert subnets and all(s["Properties"]["MapPublicIpOnLaunch"] for s in subnets.values())
    assert "EgressIpAddress" not in traders.templates["trading"].get("Outputs", {})
    services = traders.by_trader("AWS::ECS::Service")
    assert set(services) == {"btc-ema", "eth-live"}
    for service in services.values():
        vpc = service["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert vpc["AssignPublicIp"] == "ENABLED"
        assert sorted(s["Ref"] for s in vpc["Subnets"]) == sorted(subnets)


def test_fixed_egress_ip_puts_tasks_behind_one_nat_gateway_and_outputs_its_address(egress):
    (eip,) = egress.resources("trading", "AWS::EC2::EIP")
    nat = egress.one("trading", "AWS::EC2::NatGateway")
    assert nat["AllocationId"] == {"Fn::GetAtt": [eip, "AllocationId"]}
    output = egress.templates["trading"]["Outputs"]["EgressIpAddress"]
    assert output["Value"] == {"Fn::GetAtt": [eip, "PublicIp"]}
    private = {
        k
        for k, s in egress.resources("trading", "AWS::EC2::Subnet").items()
        if not s["Properties"]["MapPublicIpOnLaunch"]
    }
    vpc = egress.one("trading", "AWS::ECS::Service")["NetworkConfiguration"]
    assert vpc["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"
    assert {s["Ref"] for s in vpc["AwsvpcConfiguration"]["Subnets"]} == private


def test_security_group_admits_nothing_and_lets_out_https_only(traders):
    group = traders.one("trading", "AWS::EC2::SecurityGroup")
    assert "SecurityGroupIngress" not in group
    assert traders.resources("trading", "AWS::EC2::SecurityGroupIngress") == {}
    (rule,) = group["SecurityGroupEgress"]
    assert {k: rule[k] for k in ("CidrIp", "IpProtocol", "FromPort", "ToPort")} == {
        "CidrIp": "0.0.0.0/0",
        "IpProtocol": "tcp",
        "FromPort": 443,
        "ToPort": 443,
    }
    assert traders.resources("trading", "AWS::EC2::FlowLog")


# -- cluster, services, tasks -----------------------------------------------------------------


def test_one_task_at_a_time_on_fargate_with_rollback(traders):
    cluster = traders.one("trading", "AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]
    association = traders.one("trading", "AWS::ECS::ClusterCapacityProviderAssociations")
    assert association["CapacityProviders"] == ["FARGATE"]
    (association_id,) = traders.resources(
        "trading", "AWS::ECS::ClusterCapacityProviderAssociations"
    )
    for logical, res in traders.resources("trading", "AWS::ECS::Service").items():
        service = res["Properties"]
        assert service["DesiredCount"] == 1, logical
        deployment = service["DeploymentConfiguration"]
        assert deployment["MinimumHealthyPercent"] == 0
        assert deployment["MaximumPercent"] == 100
        assert deployment["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
        assert [s["CapacityProvider"] for s in service["CapacityProviderStrategy"]] == ["FARGATE"]
        assert "LaunchType" not in service
        assert association_id in res["DependsOn"]
    services = traders.by_trader("AWS::ECS::Service")
    assert {tid: s["ServiceName"] for tid, s in services.items()} == {
        "btc-ema": "trader-btc-ema",
        "eth-live": "trader-eth-live",
    }


def test_task_definitions_x86_half_a_vcpu_read_only_awslogs_per_trader(traders, egress):
    groups = traders.by_trader("AWS::Logs::LogGroup")
    assert {g["RetentionInDays"] for g in groups.values()} == {14}
    for tid, task in traders.by_trader("AWS::ECS::TaskDefinition").items():
        assert (task["Cpu"], task["Memory"]) == ("512", "1024")
        assert task["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
        assert task["Family"] == f"tradpal-dev-trader-{tid}"
        (container,) = task["ContainerDefinitions"]
        assert container["ReadonlyRootFilesystem"] is True
        assert container["LinuxParameters"]["InitProcessEnabled"] is True
        logging = container["LogConfiguration"]
        assert logging["LogDriver"] == "awslogs"
        group = logging["Options"]["awslogs-group"]["Ref"]
        assert group.startswith(tid.replace("-", "")) and group in traders.resources(
            "trading", "AWS::Logs::LogGroup"
        )
    (prod_group,) = egress.by_trader("AWS::Logs::LogGroup").values()
    assert prod_group["RetentionInDays"] == 365


def test_the_image_is_built_for_x86_from_the_trader_dockerfile_with_a_narrow_context(traders):
    assets = json.loads((traders.outdir / "TradpalDevTrading.assets.json").read_text())
    (image,) = assets["dockerImages"].values()
    source = image["source"]
    assert source["dockerFile"] == "functions/images/trader/Dockerfile"
    assert source["platform"] == "linux/amd64"
    staged = traders.outdir / source["directory"]
    files = {p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()}
    assert {"pyproject.toml", "setup.py", "functions/images/trader/Dockerfile"} <= files
    assert "layers/tradpal/python/tradpal/trading/heartbeat.py" in files
    outside = {f for f in files if not f.startswith("layers/tradpal/python/tradpal/")}
    assert outside == {"pyproject.toml", "setup.py", "functions/images/trader/Dockerfile"}
    assert not [f for f in files if "__pycache__" in f or ".egg-info" in f or f.endswith(".so")]


def test_container_command_and_environment(traders):
    tasks = traders.by_trader("AWS::ECS::TaskDefinition")
    (paper,) = tasks["btc-ema"]["ContainerDefinitions"]
    (live,) = tasks["eth-live"]["ContainerDefinitions"]
    assert paper["Command"] == [
        "--trader-id", "btc-ema", "--strategy", "ema_crossover", "--symbol", "BTC/USDT",
        "--timeframe", "1h", "--exchange", "binance", "--paper",
        "--param", "fast=12", "--param", "slow=26", "--capital", "1000.0",
    ]  # fmt: skip
    assert live["Command"] == [
        "--trader-id", "eth-live", "--strategy", "confluence", "--symbol", "ETH/USDT",
        "--timeframe", "4h", "--exchange", "kraken", "--live",
    ]  # fmt: skip
    (table_name,) = [
        e["Value"] for e in paper["Environment"] if e["Name"] == "TRADPAL_TRADING_TABLE"
    ]
    assert "Fn::ImportValue" in table_name  # the Data stack's table, by its generated name
    common = {
        "POWERTOOLS_SERVICE_NAME": "trading",
        "POWERTOOLS_METRICS_NAMESPACE": "TradPal",
        "LOG_LEVEL": "INFO",
        "TRADPAL_STAGE": "dev",
        "TRADPAL_TRADING_TABLE": table_name,
        "TRADPAL_MARKET_DATA_STREAM": "tradpal-dev-market-data",
        "TRADPAL_EVENT_BUS": "tradpal-dev",
    }
    assert {e["Name"]: e["Value"] for e in paper["Environment"]} == {
        **common,
        "TRADPAL_TRADER_ID": "btc-ema",
    }
    assert {e["Name"]: e["Value"] for e in live["Environment"]} == {
        **common,
        "TRADPAL_TRADER_ID": "eth-live",
        "TRADPAL_LIVE_TRADING": "true",
        "TRADPAL_EXCHANGE_SECRET": "tradpal-dev/traders/eth-live/exchange",
    }


# -- IAM and secrets --------------------------------------------------------------------------


def _statements(synth: Synth, tid: str) -> list[dict]:
    prefix = tid.replace("-", "") + "TaskRole"
    (role,) = [k for k in synth.resources("trading", "AWS::IAM::Role") if k.startswith(prefix)]
    policies = [
        p["Properties"]
        for p in synth.resources("trading", "AWS::IAM::Policy").values()
        if _ref(role) in p["Properties"]["Roles"]
    ]
    (policy,) = policies
    props = synth.resources("trading", "AWS::IAM::Role")[role]["Properties"]
    assert "ManagedPolicyArns" not in props and "Policies" not in props
    return policy["PolicyDocument"]["Statement"]


def _arn(service: str, resource: str) -> dict:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                f":{service}:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":{resource}",
            ],
        ]
    }


def test_task_roles_hold_exactly_their_own_partition_stream_events_and_secret(traders):
    (secret,) = traders.resources("trading", "AWS::SecretsManager::Secret")
    for tid in ("btc-ema", "eth-live"):
        statements = _statements(traders, tid)
        table, stream, bus, *rest = statements
        assert table["Action"] == TABLE_ACTIONS == sorted(TABLE_ACTIONS)
        assert "dynamodb:Scan" not in table["Action"]
        assert table["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [tid]}}
        assert "Fn::ImportValue" in table["Resource"]  # the trading table's ARN
        assert stream == {
            "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
            "Effect": "Allow",
            "Resource": _arn("kinesis", "stream/tradpal-dev-market-data"),
        }
        assert bus == {
            "Action": "events:PutEvents",
            "Condition": {"StringEquals": {"events:source": "tradpal.trading"}},
            "Effect": "Allow",
            "Resource": _arn("events", "event-bus/tradpal-dev"),
        }
        if tid == "eth-live":
            assert rest == [
                {
                    "Action": "secretsmanager:GetSecretValue",
                    "Effect": "Allow",
                    "Resource": _ref(secret),
                }
            ]
        else:
            assert rest == []
        assert all(s["Effect"] == "Allow" and s["Resource"] != "*" for s in statements)
        assert not any("cloudwatch:" in json.dumps(s) for s in statements)


def test_secrets_are_named_per_trader_and_never_in_the_template_or_environment(traders):
    (secret,) = traders.resources("trading", "AWS::SecretsManager::Secret").values()
    props = secret["Properties"]
    assert props["Name"] == "tradpal-dev/traders/eth-live/exchange"
    assert "SecretString" not in props
    assert json.loads(props["GenerateSecretString"]["SecretStringTemplate"]) == {"apiKey": ""}
    assert props["GenerateSecretString"]["GenerateStringKey"] == "secret"
    for task in traders.by_trader("AWS::ECS::TaskDefinition").values():
        (container,) = task["ContainerDefinitions"]
        assert "Secrets" not in container  # not injected: the process reads it itself
        names = {e["Name"] for e in container["Environment"]}
        assert not {n for n in names if "KEY" in n or n.endswith("_SECRET_VALUE")}
    assert '"SecretString"' not in json.dumps(traders.templates)


def test_only_live_traders_get_a_secret(egress):
    assert egress.resources("trading", "AWS::SecretsManager::Secret") == {}


# -- the heartbeat ----------------------------------------------------------------------------


def test_heartbeat_alarm_per_trader_breaches_on_missing_data(traders):
    (topic,) = traders.resources("monitoring", "AWS::SNS::Topic")
    alarms = {
        a["Properties"]["Dimensions"][1]["Value"]: a["Properties"]
        for a in traders.resources("monitoring", "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == HEARTBEAT_METRIC
    }
    assert set(alarms) == {"btc-ema", "eth-live"}
    for tid, alarm in alarms.items():
        assert alarm["Namespace"] == METRICS_NAMESPACE == "TradPal"
        assert alarm["Dimensions"] == [
            {"Name": "service", "Value": "trading"},
            {"Name": "trader", "Value": tid},
        ]
        assert (alarm["Statistic"], alarm["Period"]) == ("Sum", 60)
        assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 1
        assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (3, 3)
        assert alarm["TreatMissingData"] == "breaching"
        assert alarm["AlarmActions"] == [_ref(topic)]


def test_heartbeat_emf_is_the_metric_the_alarm_watches():
    doc = heartbeat_emf("btc-ema", 1_700_000_000_123)
    (directive,) = doc["_aws"]["CloudWatchMetrics"]
    assert doc["_aws"]["Timestamp"] == 1_700_000_000_123
    assert directive["Namespace"] == METRICS_NAMESPACE
    assert directive["Metrics"] == [{"Name": HEARTBEAT_METRIC, "Unit": "Count"}]
    (dimensions,) = directive["Dimensions"]
    assert {d: doc[d] for d in dimensions} == {"service": "trading", "trader": "btc-ema"}
    assert doc[HEARTBEAT_METRIC] == 1 and HEARTBEAT_PERIOD_S == 60
    assert json.loads(json.dumps(doc)) == doc


# -- checks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["traders", "egress"])
def test_cdk_nag_and_cfn_lint_clean_with_traders(which, request):
    from cfnlint.api import ManualArgs, lint_file

    synth = request.getfixturevalue(which)
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert [v for p in report["pluginReports"] for v in p.get("violations", [])] == []
    problems = []
    for path in sorted(synth.outdir.glob("*.template.json")):
        if "Trading" not in path.name and "Monitoring" not in path.name:
            continue  # the other stacks are test_nag.py's
        matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
        problems += [f"{path.name}: {m}" for m in matches if m.rule.id != "W3005"]
    assert problems == []
    reasons = [
        reason
        for path in synth.outdir.glob("*Trading.metadata.json")
        for entries in json.loads(path.read_text()).values()
        for entry in entries
        if entry["type"] == "aws:cdk:acknowledged-rules"
        for reason in entry["data"].values()
    ]
    assert reasons and all(len(r) >= 30 for r in reasons)


def test_trader_command_formats_params_and_capital():
    trader = TraderConfig("t1", "ema_crossover", "SOL/USDC", "15m", params={"slow": 50, "fast": 8})
    assert trader_command(trader)[-5:] == ["--paper", "--param", "fast=8", "--param", "slow=50"]
    assert "--capital" not in trader_command(trader)


# -- configuration errors at synth ------------------------------------------------------------


def _config(**context) -> StageConfig:
    return StageConfig.from_node(cdk.App(context=context).node)


@pytest.mark.parametrize(
    ("entry", "fragment", "hint"),
    [
        ({**PAPER, "strategy": "ema_crosover"}, "unknown strategy", "ema_crossover, confluence"),
        ({**PAPER, "strategy": "mine.py:strat"}, "not accepted", "built-in"),
        ({**PAPER, "id": "BTC"}, "trader id 'BTC' is invalid", "lowercase"),
        ({**PAPER, "id": "a" * 41}, "is invalid", "at most 40"),
        ({**PAPER, "id": "btc-"}, "is invalid", "dashes"),
        ({**PAPER, "id": "btc_ema"}, "is invalid", "dashes"),
        ({**PAPER, "timeframe": "7h"}, "unknown timeframe", "1h"),
        ({**PAPER, "params": {"fats": 5}}, "unknown param", "fast, slow"),
        ({**PAPER, "params": {"fast": 500}}, "outside its range", "2 to 100"),
        ({**PAPER, "symbol": "BTCUSDT"}, "not BASE/QUOTE", "BTC/USDT"),
        ({**PAPER, "exchange": "binanse"}, "no exchange 'binanse'", "binance"),
        ({**PAPER, "mode": "real"}, "mode 'real'", "paper"),
        ({**PAPER, "capital": -5}, "not a positive number", "quote currency"),
        ({k: v for k, v in PAPER.items() if k != "timeframe"}, "missing timeframe", "required"),
        ({**PAPER, "tf": "1h"}, "unknown keys ['tf']", "a trader takes"),
    ],
)
def test_a_bad_trader_is_a_config_error_at_synth(entry, fragment, hint):
    with pytest.raises(ConfigError) as err:
        _config(traders=[entry])
    assert fragment in err.value.message, err.value.message
    assert err.value.hint and hint in err.value.hint, err.value.hint


def test_live_trader_needs_live_trading_in_the_stage():
    with pytest.raises(ConfigError) as err:
        _config(traders=[LIVE])
    assert "eth-live" in err.value.message and "live trading" in err.value.message
    assert "-c live_trading=true" in err.value.hint
    for flag in (True, "true", "1"):
        assert _config(traders=[LIVE], live_trading=flag).traders[0].live
    with pytest.raises(ConfigError, match="not true or false"):
        _config(live_trading="maybe")


def test_traders_from_cdk_json_or_the_command_line():
    assert _config().traders == () and not _config().fixed_egress_ip
    from_json = _config(traders=json.dumps([PAPER]), fixed_egress_ip="true")
    assert from_json.traders == _config(traders=[PAPER]).traders
    assert from_json.fixed_egress_ip
    (trader,) = from_json.traders
    assert (trader.exchange, trader.mode, trader.capital) == ("binance", "paper", 1000.0)
    with pytest.raises(ConfigError, match="more than once"):
        _config(traders=[PAPER, PAPER])
    with pytest.raises(ConfigError, match="not JSON"):
        _config(traders="[{")
    with pytest.raises(ConfigError, match="must be a list"):
        _config(traders={"id": "x"})
    assert _config().trader_secret_name("x") == "tradpal-dev/traders/x/exchange"
