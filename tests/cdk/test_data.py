"""Data stack: buckets encrypted, versioned, private, TLS-only, logged, with lifecycle rules;
tables with PITR and TTL; prod retains data, dev destroys it."""

from __future__ import annotations

from aws_cdk.assertions import Match

from tradpal.platform.topology import TOPOLOGY


def _buckets(synth):
    return synth.resources("data", "AWS::S3::Bucket")


def test_every_bucket_is_encrypted_private_and_has_lifecycle(synth_dev):
    buckets = _buckets(synth_dev)
    assert len(buckets) == 3  # market data, results, access logs
    for bucket in buckets.values():
        props = bucket["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        ids = {r["Id"] for r in props["LifecycleConfiguration"]["Rules"]}
        assert "abort-incomplete-uploads" in ids


def test_data_buckets_are_versioned_and_log_to_the_access_log_bucket(synth_dev):
    template = synth_dev.template("data")
    for prefix in ("marketdata/", "results/"):
        template.has_resource_properties(
            "AWS::S3::Bucket",
            {
                "VersioningConfiguration": {"Status": "Enabled"},
                "LoggingConfiguration": {
                    "DestinationBucketName": {"Ref": Match.string_like_regexp("AccessLogs")},
                    "LogFilePrefix": prefix,
                },
            },
        )


def test_every_bucket_denies_plain_http(synth_dev):
    policies = synth_dev.resources("data", "AWS::S3::BucketPolicy")
    secured = set()
    for policy in policies.values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}:
                assert statement["Effect"] == "Deny"
                secured.add(policy["Properties"]["Bucket"]["Ref"])
    assert secured == set(_buckets(synth_dev))


def test_tables_have_pitr_encryption_and_ttl_where_it_fits(synth_dev):
    tables = synth_dev.resources("data", "AWS::DynamoDB::GlobalTable")
    by_key = {
        t["Properties"]["KeySchema"][0]["AttributeName"]: t["Properties"] for t in tables.values()
    }
    assert set(by_key) == {t.partition for t in TOPOLOGY.tables}
    assert set(by_key) == {"run_id", "symbol", "id", "trader_id"}
    for props in by_key.values():
        (replica,) = props["Replicas"]
        assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True
    assert by_key["id"]["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }
    assert by_key["run_id"]["TimeToLiveSpecification"]["AttributeName"] == "expires_at"
    assert "TimeToLiveSpecification" not in by_key["symbol"]
    # a trader's orders and fills are its books: nothing of them may expire
    trading = by_key["trader_id"]
    assert [k["AttributeName"] for k in trading["KeySchema"]] == ["trader_id", "item"]
    assert "TimeToLiveSpecification" not in trading


def test_prod_retains_every_bucket_and_table_and_dev_destroys_them(synth_dev, synth_prod):
    for synth, policy in ((synth_prod, "Retain"), (synth_dev, "Delete")):
        for type_ in ("AWS::S3::Bucket", "AWS::DynamoDB::GlobalTable"):
            for resource in synth.resources("data", type_).values():
                assert resource["DeletionPolicy"] == policy
                assert resource["UpdateReplacePolicy"] == policy
    # prod also refuses table deletion outright; dev empties buckets so they can go
    for table in synth_prod.resources("data", "AWS::DynamoDB::GlobalTable").values():
        assert table["Properties"]["Replicas"][0]["DeletionProtectionEnabled"] is True
    assert synth_prod.resources("data", "Custom::S3AutoDeleteObjects") == {}
    assert len(synth_dev.resources("data", "Custom::S3AutoDeleteObjects")) == 3
