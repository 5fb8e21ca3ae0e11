# SPDX-License-Identifier: Apache-2.0
"""Label and field selectors, parsed and matched as the apiserver does for EndpointSlices."""

import re

from .status import bad_request

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\((.*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def _split_top_level(text):
    """Split ``text`` on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_label_selector(text):
    """Parse a label selector into a list of ``(op, key, values)`` requirements.

    Supports ``k=v``, ``k==v``, ``k!=v``, ``k in (a,b)``, ``k notin (a,b)``, ``k``,
    ``!k`` and comma-joined combinations (all must hold).
    """
    reqs = []
    if not text or not text.strip():
        return reqs
    for part in _split_top_level(text):
        m = _EQ_RE.match(part)
        if m:
            key, op, value = m.groups()
            reqs.append(("!=" if op == "!=" else "=", key, {value}))
            continue
        m = _SET_RE.match(part)
        if m:
            neg, key, op, values = m.groups()
            if op:
                if neg:
                    raise bad_request(f"unable to parse requirement: {part!r}")
                vals = {v.strip() for v in values.split(",") if v.strip()}
                if not vals:
                    raise bad_request(
                        f"unable to parse requirement: for '{op}', 'notin' operators, "
                        "values set can't be empty")
                reqs.append((op, key, vals))
            else:
                reqs.append(("!exists" if neg else "exists", key, set()))
            continue
        raise bad_request(f"unable to parse requirement: found '{part.strip()}', "
                          "expected: identifier")
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for op, key, values in reqs:
        present = key in labels
        value = labels.get(key)
        if op == "=" and not (present and value in values):
            return False
        if op == "!=" and present and value in values:
            return False
        if op == "in" and not (present and value in values):
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def parse_field_selector(text):
    """Field selectors EndpointSlices support: ``metadata.name`` and ``metadata.namespace``."""
    reqs = []
    if not text or not text.strip():
        return reqs
    for part in text.split(","):
        m = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.groups()
        if field not in ("metadata.name", "metadata.namespace"):
            raise bad_request(f'field label not supported: {field}')
        reqs.append((field, op != "!=", value))
    return reqs


def fields_match(reqs, obj):
    meta = obj.get("metadata", {})
    for field, equal, value in reqs:
        actual = meta.get(field.split(".", 1)[1], "")
        if (actual == value) != equal:
            return False
    return True


def matcher(req):
    """A predicate for the objects request ``req`` selects (its selectors, name, namespace)."""
    labels = parse_label_selector(req.query.get("labelSelector", ""))
    fields = parse_field_selector(req.query.get("fieldSelector", ""))
    if req.name:
        fields.append(("metadata.name", True, req.name))
    if req.namespace:
        fields.append(("metadata.namespace", True, req.namespace))

    def matches(obj):
        return obj is not None and labels_match(labels, obj["metadata"].get("labels")) \
            and fields_match(fields, obj)

    return matches
