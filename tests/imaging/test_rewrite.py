"""Rewriting the PACS's absolute URLs in whole answers: multipart part headers only, never pixels."""

from __future__ import annotations

from imaging.dicomweb.proxy import UrlRewriter

PACS = b"http://127.0.0.1:8043/dicom-web"
PROXY = b"http://testserver/dicomweb"
TYPE = 'multipart/related; type="application/octet-stream"; boundary=b0und'


def part(data: bytes, *, length: bool) -> bytes:
    head = b"--b0und\r\nContent-Location: " + PACS + b"/studies/1/series/2/instances/3/frames/1\r\n"
    head += b"Content-Type: application/octet-stream\r\n"
    if length:
        head += b"Content-Length: %d\r\n" % len(data)
    return head + b"MIME-Version: 1.0\r\n\r\n" + data + b"\r\n"


def rewriter() -> UrlRewriter:
    return UrlRewriter([PACS], PROXY)


def test_only_part_headers_are_rewritten() -> None:
    pixels = b"\x00\x01" * 100 + PACS + b"\r\n--b0und" + b"\xff" * 50  # data that looks like both
    for length in (True, False):
        body = part(pixels, length=length) + part(b"second", length=length) + b"--b0und--\r\n"
        out = rewriter().whole(body, TYPE)
        if length:
            assert out.count(PROXY) == 2 and pixels in out
            assert out == body.replace(b"Content-Location: " + PACS, b"Content-Location: " + PROXY)
        else:
            # Without lengths the part ends at the first delimiter: the headers are still rewritten.
            assert out.startswith(b"--b0und\r\nContent-Location: " + PROXY + b"/studies/")
        assert PACS + b"/studies" not in out


def test_anything_else_is_rewritten_everywhere() -> None:
    json_body = b'[{"7FE00010": {"BulkDataURI": "' + PACS + b'/studies/1/bulk"}}]'
    assert rewriter().whole(json_body, "application/dicom+json") == json_body.replace(PACS, PROXY)
    broken = b"preamble " + PACS + b" --b0und\r\nno end of headers"
    assert rewriter().whole(broken, TYPE) == broken.replace(PACS, PROXY)
    unterminated = part(b"data", length=False)  # no closing delimiter
    assert PACS not in rewriter().whole(unterminated, TYPE)
