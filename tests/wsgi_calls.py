"""A request to the WSGI application gunicorn serves (statuspage/wsgi.py),
made in this process as gunicorn makes it: for the tests of what answers in
front of Django's handler."""

from django.test import RequestFactory

from statuspage.wsgi import application


def get(path="/", **headers):
    """``(status line, headers, body)`` of a GET from 127.0.0.1."""
    environ = RequestFactory().get(path, HTTP_HOST="127.0.0.1", **headers).environ
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = status
        answer["headers"] = dict(response_headers)

    chunks = application(environ, start_response)
    body = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return answer["status"], answer["headers"], body
