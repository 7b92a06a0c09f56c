"""The floor for bench/feishu_webhook.py: the SDK's own verification with a no-op handler.

Same WSGI server and thread count as `genjin serve`; nothing is stored.
Run by the benchmark as: python bench/feishu_floor_app.py PORT ENCRYPT_KEY TOKEN
"""

from __future__ import annotations

import sys

import lark_oapi as lark
from flask import Flask
from lark_oapi.adapter.flask import parse_req, parse_resp
from waitress import serve


def main() -> None:
    """Serve POST /webhook/feishu with a no-op message handler."""
    port, key, token = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    handler = (
        lark.EventDispatcherHandler.builder(key, token, lark.LogLevel.CRITICAL)
        .register_p2_im_message_receive_v1(lambda data: None)
        .build()
    )
    app = Flask(__name__)

    @app.post("/webhook/feishu")
    def events():  # noqa: ANN202 - Flask view
        return parse_resp(handler.do(parse_req()))

    @app.get("/healthz")
    def healthz():  # noqa: ANN202 - Flask view
        return "ok"

    serve(app, host="127.0.0.1", port=port, threads=8, ident="floor", _quiet=True)


if __name__ == "__main__":
    main()
