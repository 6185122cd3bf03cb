"""cdk-nag acknowledgements, each with the reason the finding does not apply or is accepted.

cdk-nag 3.x runs as a CDK validation plugin; a finding fails the synth unless acknowledged on
the construct it concerns (or an ancestor) with a reason.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge AwsSolutions ``rule`` on ``construct`` and its children.

    ``rule`` is a rule (``"L1"``) or, for rules reporting several findings, one finding
    (``"IAM5[Action::s3:List*]"``): cdk-nag 3 acknowledges each finding separately.
    """
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))
