"""A producer that is not this library: ``python -m tests.integration.pika_publish URL EXCHANGE ROUTING_KEY
MESSAGE_ID BODY [--count N] [--content-type TYPE]`` publishes BODY with pika, waiting for confirms.

No Django, no kombu: the message carries only what a foreign producer would set (message_id, content type,
persistent delivery). An empty --content-type sends none.
"""

from __future__ import annotations

import argparse

import pika


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("url", "exchange", "routing_key", "message_id", "body"):
        parser.add_argument(name)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--content-type", default="application/json")
    args = parser.parse_args()
    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(message_id=args.message_id, content_type=args.content_type or None,
                                          delivery_mode=2)
        for _ in range(args.count):
            channel.basic_publish(args.exchange, args.routing_key, args.body.encode(), properties, mandatory=True)
    finally:
        connection.close()


if __name__ == "__main__":
    main()
