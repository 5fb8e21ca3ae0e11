# SPDX-License-Identifier: Apache-2.0
"""``v1 Status`` objects (the body of every API error) and the exception that carries one."""

from .common import GROUP, RESOURCE

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def status_obj(code, message, reason=None, details=None):
    """A ``v1 Status`` failure object exactly as the apiserver serializes it."""
    obj = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason or REASONS.get(code, ""),
    }
    if details is not None:
        obj["details"] = details
    obj["code"] = code
    return obj


def unauthorized_status():
    return status_obj(401, "Unauthorized", "Unauthorized")


def not_found_status():
    return status_obj(404, "the server could not find the requested resource", "NotFound", {})


def expired_status(rv, compacted):
    return status_obj(410, f"too old resource version: {rv} ({compacted})", "Expired")


def fault_status(code, req, fault):
    """The Status body a real apiserver would send for ``code`` on request ``req``
    (``fault``: the fault's spec, for ``message``, ``user``, ``retry_after``)."""
    msg = fault.get("message")
    details = None
    if code == 401:
        return status_obj(401, msg or "Unauthorized", "Unauthorized")
    if code == 403:
        if not msg:
            user = fault.get("user", "system:serviceaccount:default:web")
            scope = (f'in the namespace "{req.namespace}"' if req.namespace
                     else "at the cluster scope")
            msg = (f'{RESOURCE}.{GROUP} is forbidden: User "{user}" cannot {req.verb} '
                   f'resource "{RESOURCE}" in API group "{GROUP}" {scope}')
        details = {"group": GROUP, "kind": RESOURCE}
        if req.name:
            details["name"] = req.name
        return status_obj(403, msg, "Forbidden", details)
    if code == 404:
        if req.name:
            return status_obj(404, msg or f'{RESOURCE}.{GROUP} "{req.name}" not found',
                              "NotFound", {"name": req.name, "group": GROUP, "kind": RESOURCE})
        return status_obj(404, msg or "the server could not find the requested resource",
                          "NotFound", {})
    if code == 410:
        rv = req.query.get("resourceVersion") or "1"
        return status_obj(410, msg or f"too old resource version: {rv} ({rv})", "Expired")
    if code == 429:
        return status_obj(429, msg or "Too many requests, please try again later.",
                          "TooManyRequests", {"retryAfterSeconds": fault.get("retry_after", 1)})
    if code == 500:
        return status_obj(500, msg or "Internal error occurred: injected fault",
                          "InternalError", {"causes": [{"message": "injected fault"}]})
    if code == 503:
        return status_obj(503, msg or "the server is currently unable to handle the request",
                          "ServiceUnavailable", {})
    if code == 504:
        return status_obj(504, msg or "Timeout: request did not complete within requested timeout",
                          "Timeout", {})
    return status_obj(code, msg or f"injected fault {code}", REASONS.get(code, "Unknown"))


class ApiError(Exception):
    """Raised by request parsing/handling; rendered as a Status response."""

    def __init__(self, status, headers=None):
        super().__init__(status.get("message"))
        self.status = status
        self.headers = headers or {}


def bad_request(message):
    return ApiError(status_obj(400, message, "BadRequest"))
