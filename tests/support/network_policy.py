"""Kubernetes NetworkPolicy semantics, evaluated offline: may this endpoint reach that port?

No cluster (and no CNI) runs in the tests, so this module implements what the
NetworkPolicy API specifies (kubernetes.io/docs/concepts/services-networking/network-policies)
over pods described as data:

- A policy selects the pods of its own namespace that its `podSelector` matches
  (`{}`: all of them). It restricts a direction only if that direction is in its
  `policyTypes` (absent: `Ingress`, plus `Egress` when it has an `egress` section).
- A pod that no policy restricts in a direction is open in that direction; one that
  some do is allowed exactly what the union of their rules allows.
- A rule with no `from`/`to` (or an empty list) matches every peer; with no `ports`
  every port. A peer with `podSelector` alone means pods of the policy's namespace,
  with `namespaceSelector` alone every pod of the matching namespaces, with both the
  pods matching the one in namespaces matching the other (AND); `ipBlock` matches
  addresses outside the cluster (here: `External` endpoints) by CIDR minus `except`.
- A port is a number or a container port's name, resolved on the destination pod
  (in an egress rule too), with its protocol (default TCP) and optional `endPort`.
- Traffic flows only if the source's egress AND the destination's ingress allow it.
- Label selectors: `matchLabels` and `matchExpressions` (In, NotIn, Exists,
  DoesNotExist); `{}` matches everything.

What a CNI does beyond the API (the node's own traffic, kubelet probes included, is
usually not filtered) is not modelled: the tests' verdicts are the API's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]
INGRESS = "Ingress"
EGRESS = "Egress"


@dataclass(frozen=True)
class Pod:
    """A pod: its namespace, labels, the labels of its namespace and its named ports."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    # Container ports by name: (number, protocol).
    ports: Mapping[str, tuple[int, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class External:
    """An address outside the cluster (a client on the internet, a managed database)."""

    name: str
    address: str


Endpoint = Pod | External


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector matches `labels` (an empty selector matches everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {operator!r}")
    return True


def policy_types(policy: Manifest) -> set[str]:
    """The directions a policy restricts, with the API's defaults when `policyTypes` is absent."""
    spec = policy["spec"]
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {INGRESS, EGRESS} if "egress" in spec else {INGRESS}


def applies_to(policy: Manifest, pod: Pod, direction: str) -> bool:
    """Whether `policy` restricts `pod`'s traffic in `direction`."""
    return (
        policy["metadata"].get("namespace") == pod.namespace
        and direction in policy_types(policy)
        and selects(policy["spec"].get("podSelector"), pod.labels)
    )


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, endpoint: Endpoint) -> bool:
    if "ipBlock" in peer:
        if not isinstance(endpoint, External):
            return False  # which pod addresses a CIDR covers depends on the cluster
        address = ipaddress.ip_address(endpoint.address)
        block = peer["ipBlock"]
        excluded = any(address in ipaddress.ip_network(c) for c in block.get("except", []))
        return address in ipaddress.ip_network(block["cidr"]) and not excluded
    if not isinstance(endpoint, Pod):
        return False
    if "namespaceSelector" in peer:
        in_namespace = selects(peer["namespaceSelector"], endpoint.namespace_labels)
    else:
        in_namespace = endpoint.namespace == policy_namespace
    return in_namespace and selects(peer.get("podSelector"), endpoint.labels)


def _port_matches(
    entry: Mapping[str, Any], destination: Endpoint, port: int, protocol: str
) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    wanted = entry.get("port")
    if wanted is None:
        return True
    if isinstance(wanted, str):
        if not isinstance(destination, Pod) or wanted not in destination.ports:
            return False
        number, named_protocol = destination.ports[wanted]
        return (number, named_protocol) == (port, protocol)
    return bool(wanted <= port <= entry.get("endPort", wanted))


def _rule_allows(
    rule: Mapping[str, Any],
    peers_key: str,
    policy_namespace: str,
    peer: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    peers = rule.get(peers_key) or []
    if peers and not any(_peer_matches(p, policy_namespace, peer) for p in peers):
        return False
    ports = rule.get("ports") or []
    return not ports or any(_port_matches(e, destination, port, protocol) for e in ports)


def _direction_allows(
    policies: Sequence[Manifest],
    pod: Pod,
    direction: str,
    peer: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    """Whether `pod`'s policies in `direction` let `peer` through to `destination`'s port."""
    section, peers_key = ("ingress", "from") if direction == INGRESS else ("egress", "to")
    selecting = [p for p in policies if applies_to(p, pod, direction)]
    if not selecting:
        return True  # not isolated in this direction
    return any(
        _rule_allows(
            rule, peers_key, policy["metadata"]["namespace"], peer, destination, port, protocol
        )
        for policy in selecting
        for rule in policy["spec"].get(section) or []
    )


def allowed(
    policies: Iterable[Manifest],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether `source` may open a connection to `destination` on `port`/`protocol`."""
    network_policies = [p for p in policies if p.get("kind") == "NetworkPolicy"]
    if isinstance(source, Pod) and not _direction_allows(
        network_policies, source, EGRESS, destination, destination, port, protocol
    ):
        return False
    if isinstance(destination, Pod):
        return _direction_allows(
            network_policies, destination, INGRESS, source, destination, port, protocol
        )
    return True
