"""The local HTTP gateway: API Gateway's HTTP API on 127.0.0.1, in front of in-process Lambdas.

* :mod:`~tradpal.local.gateway.routes`: the catalog's routes matched as API Gateway does;
* :mod:`~tradpal.local.gateway.payload`: payload format 2.0, request to event and result to
  response;
* :mod:`~tradpal.local.gateway.throttle`: per-route token buckets, and per-caller ones under
  them (local only);
* :mod:`~tradpal.local.gateway.server`: :class:`LocalGateway`, the socket server that puts them
  together with the JWT authorizer.
"""

from tradpal.local.gateway.server import LocalGateway

__all__ = ["LocalGateway"]
