"""What every keyed API call goes through, written once: the error shape, the
router that answers 405, the ``x-api-key`` check and JSON body parsing."""

import json
import logging
from contextlib import contextmanager, suppress
from functools import partial, wraps

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError, transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError

from incidents import idempotency, ratelimit
from incidents.models import ApiKey, Conflict
from incidents.models.fields import api_name
from incidents.models.keys import READ

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
JSON_CONTENT_TYPE = "application/json"


def json_response(data, status=200, headers=None):
    body = json.dumps(data, ensure_ascii=False).encode("utf-8")
    return HttpResponse(body, status=status, content_type=JSON_CONTENT_TYPE, headers=headers)


def error(code, message, status, fields=None, headers=None):
    """The one shape of every API error: ``{"error": {code, message, fields?}}``."""
    payload = {"code": code, "message": message}
    if fields is not None:
        payload["fields"] = fields
    # ASCII escapes: error bodies may echo what a client sent (unknown field
    # names), which can hold anything JSON can spell.
    body = json.dumps({"error": payload}, ensure_ascii=True).encode("ascii")
    return HttpResponse(body, status=status, content_type=JSON_CONTENT_TYPE, headers=headers)


class ApiError(Exception):
    """Raised anywhere below a view to answer with ``error(...)``."""

    def __init__(self, code, message, status, fields=None, headers=None):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.fields, self.headers = fields, headers

    def response(self):
        return error(self.code, self.message, self.status, self.fields, self.headers)


def invalid(fields, message=None):
    """A validation_error naming the fields at fault."""
    if message is None:
        names = ", ".join(fields) if fields else "the body"
        message = f"The request is not valid: check {names}."
    return ApiError("validation_error", message, 400, fields=fields)


def not_found_error(what="resource"):
    return ApiError("not_found", f"No such {what}.", 404)


def contract_fields(exc):
    """A domain ValidationError as ``{"contractName": "message"}`` (the domain
    names fields as the models do; the API speaks the contract's names)."""
    if hasattr(exc, "error_dict"):
        return {api_name(name): " ".join(messages) for name, messages in exc.message_dict.items()}
    return {}


@contextmanager
def domain_errors():
    """Translate what the domain raises into API errors."""
    try:
        yield
    except ValidationError as exc:
        fields = contract_fields(exc)
        raise invalid(fields, None if fields else " ".join(exc.messages)) from exc
    except Conflict as exc:
        raise ApiError("conflict", str(exc), 409) from exc
    except ObjectDoesNotExist as exc:
        raise not_found_error() from exc
    except IntegrityError as exc:
        # Two writers raced (the same chosen id, a monitor deleted meanwhile):
        # nothing was written; the client may retry.
        raise ApiError(
            "conflict", "The change conflicts with a concurrent one; nothing was changed.", 409
        ) from exc


def api_view(view):
    """Key-authenticated views are exempt from CSRF; every outcome is JSON, even
    a failure nobody foresaw (logged, without the request's headers)."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = _respond(view, request, *args, **kwargs)
        # Answers depend on the key (and on time): no shared cache may keep
        # them, and a client revalidates (ETag) before reusing one.
        if "Cache-Control" not in response:
            response["Cache-Control"] = "private, no-cache"
        return response

    return wrapper


def _respond(view, request, *args, **kwargs):
    """The view's answer, with every failure turned into a JSON error."""
    try:
        return view(request, *args, **kwargs)
    except ApiError as exc:
        return exc.response()
    except (OperationalError, InterfaceError, RedisError) as exc:
        # The database (or the shared cache) is unreachable: say so, so
        # clients retry; nothing was written. Connections recover by
        # themselves (health-checked) once it is back.
        logger.warning("API unavailable: %s %s: %r", request.method, request.path, exc)
        return error(
            "unavailable",
            "The service is temporarily unavailable; try again shortly.",
            503,
            headers={"Retry-After": "5"},
        )
    except Exception:
        logger.exception("API request failed: %s %s", request.method, request.path)
        return error("internal_error", "Something went wrong on our side.", 500)


def dispatch(request, *args, **handlers):
    """One router per URL: the handler for the method, or 405 with ``Allow``."""
    handler = handlers.get(request.method)
    if handler is None:
        allowed = ", ".join(handlers)
        return error(
            "method_not_allowed",
            f"This URL answers only {allowed}.",
            405,
            headers={"Allow": allowed},
        )
    return handler(request, *args)


def presented_key(request):
    """The raw key the request sent in ``x-api-key``; 401 when it sent none."""
    raw = request.META.get("HTTP_X_API_KEY")
    if not raw:
        raise ApiError(
            "unauthorized",
            "Send your API key in the x-api-key header.",
            401,
            headers={"WWW-Authenticate": 'ApiKey header="x-api-key"'},
        )
    return raw


def admit(request, raw, found=READ):
    """Set ``request.api_key`` to the usable key ``raw`` is, or refuse (401, or
    429 for an address that failed too often). ``found``: the shared cache's
    answer, when the caller read the key's record with what it reads anyway
    (ApiKeyQuerySet.authenticate). The key is never echoed."""
    key = ApiKey.objects.authenticate(raw, found)
    if key is None:
        # Only failures are limited, so a valid key costs nothing extra
        # and keeps working from an address someone else abuses.
        address = ratelimit.client_address(request)
        wait = ratelimit.api_keys.retry_after(address)
        if wait is not None:
            raise ApiError(
                "rate_limited",
                f"Too many failed API key attempts from your address; try again in {wait} seconds.",
                429,
                headers={"Retry-After": str(wait)},
            )
        ratelimit.api_keys.record_failure(address)
        raise ApiError(
            "unauthorized",
            "The API key is unknown or has been revoked.",
            401,
            headers={"WWW-Authenticate": 'ApiKey header="x-api-key"'},
        )
    key.record_use()
    request.api_key = key


def authorize(handler):
    """Require a usable key in ``x-api-key``; set ``request.api_key``.

    Runs before anything reads data or the body. (A GET answered from its
    stored copy checks the key in the same cache read: api/caching.py.)
    """

    @wraps(handler)
    def wrapper(request, *args, **kwargs):
        admit(request, presented_key(request))
        if request.method == "POST":
            return idempotent(request, partial(handler, request, *args, **kwargs))
        return handler(request, *args, **kwargs)

    return wrapper


class _ClaimTakenOver(Exception):
    """Rolls back a write whose idempotency claim was taken over meanwhile."""


def idempotent(request, run):
    """Run a POST once per ``Idempotency-Key`` (incidents/idempotency.py)."""
    raw = request.headers.get(idempotency.HEADER)
    if raw is None:
        return run()
    if not idempotency.is_valid_key(raw):
        raise invalid(
            {idempotency.HEADER: "Send 1 to 255 printable ASCII characters."},
            "The Idempotency-Key header is not valid: send 1 to 255 printable ASCII characters.",
        )
    body = read_body(request)
    try:
        held = idempotency.claim(
            request.api_key, raw, idempotency.fingerprint(request.method, request.path, body)
        )
    except idempotency.KeyReused:
        raise ApiError(
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request; send a new key.",
            422,
        ) from None
    except idempotency.InProgress:
        raise ApiError(
            "conflict",
            "A request with this Idempotency-Key is still in progress; retry shortly.",
            409,
            headers={"Retry-After": "1"},
        ) from None
    if isinstance(held, idempotency.IdempotencyKey):
        return replay(held)
    try:
        # The write and its recorded answer commit together.
        with transaction.atomic():
            try:
                response = run()
            except ApiError as exc:
                response = exc.response()
            kept = idempotency.is_kept(response.status_code)
            if kept and not held.finish(
                response.status_code,
                response.content,
                response.get("Content-Type", ""),
                response.get("Location"),
            ):
                raise _ClaimTakenOver
    except _ClaimTakenOver:
        raise ApiError(
            "conflict",
            "A request with this Idempotency-Key was retried meanwhile; nothing was changed.",
            409,
        ) from None
    except BaseException:
        with suppress(DatabaseError):
            held.release()
        raise
    if not kept:
        held.release()
    return response


def replay(record):
    response = HttpResponse(record.body, status=record.status, content_type=record.content_type)
    if record.location:
        response["Location"] = record.location
    response["Idempotent-Replayed"] = "true"
    return response


def is_json_content_type(value):
    """``application/json``, optionally with ``charset=utf-8`` (JSON is UTF-8)."""
    media_type, *params = (part.strip().lower() for part in value.split(";"))
    if media_type != JSON_CONTENT_TYPE:
        return False
    for param in filter(None, params):
        name, _, param_value = param.partition("=")
        if name.strip() != "charset" or param_value.strip().strip('"') != "utf-8":
            return False
    return True


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def _no_duplicate_keys(pairs):
    seen = {}
    for name, value in pairs:
        if name in seen:
            raise ValueError(f"the key {name!r} appears twice")
        seen[name] = value
    return seen


def read_body(request):
    """The body's bytes, refusing more than 64 KiB without reading past it.

    With ``Transfer-Encoding: chunked`` there is no Content-Length, so Django
    reads nothing; the server (gunicorn sets ``wsgi.input_terminated``) then
    ends the stream itself, and it is read directly, just as bounded. Read once
    per request (``request.api_body``).
    """
    if hasattr(request, "api_body"):
        return request.api_body
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_large = ApiError(
        "payload_too_large", f"The body must be at most {MAX_BODY_BYTES} bytes (64 KiB).", 413
    )
    if declared > MAX_BODY_BYTES:
        raise too_large
    if not declared and request.META.get("wsgi.input_terminated"):
        stream = request.META["wsgi.input"]
    else:
        stream = request
    body = stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise too_large
    request.api_body = body
    return body


def parse_json(body):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("invalid_json", "The body is not valid UTF-8.", 400) from None
    if not text.strip():
        raise ApiError("invalid_json", "The body is empty; send a JSON object.", 400)
    try:
        return json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
        )
    except json.JSONDecodeError as exc:
        message = f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        raise ApiError("invalid_json", message, 400) from None
    except RecursionError:
        raise ApiError("invalid_json", "The body is nested too deeply.", 400) from None
    except ValueError as exc:
        # NaN/Infinity, repeated keys, integers too long to convert.
        raise ApiError("invalid_json", f"The body is not valid JSON: {exc}.", 400) from None


def json_body(handler):
    """Parse an ``application/json`` body of at most 64 KiB into ``request.json``."""

    @wraps(handler)
    def wrapper(request, *args, **kwargs):
        content_type = request.META.get("CONTENT_TYPE", "")
        if not is_json_content_type(content_type):
            raise ApiError(
                "unsupported_media_type",
                "Send the body as JSON with the header Content-Type: application/json.",
                415,
            )
        request.json = parse_json(read_body(request))
        return handler(request, *args, **kwargs)

    return wrapper
