"""Connecting to a broker given as several nodes: the first node that answers, from the one used last; the
last node's error when none answers. A closed port on this machine stands for a node that is down."""

from __future__ import annotations

import pytest

from outbox.broker_nodes import BrokerNodes, node_urls

pytestmark = [pytest.mark.integration]

DOWN = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens on port 1: the connection is refused at once


@pytest.mark.parametrize(("url", "expected"), [
    pytest.param("amqp://a//", ["amqp://a//"], id="one"),
    pytest.param("amqp://a//;amqp://b//; amqp://c//;", ["amqp://a//", "amqp://b//", "amqp://c//"], id="semicolons"),
    pytest.param(["amqp://a//", "amqp://b//;amqp://c//"], ["amqp://a//", "amqp://b//", "amqp://c//"], id="list"),
    pytest.param((), [], id="empty"),
    pytest.param(None, [], id="none"),
])
def test_node_urls__each_form__the_nodes_in_order(url, expected):
    assert node_urls(url) == expected


def test_broker_nodes__first_node_down__connects_to_the_next_and_stays_there(broker_url):
    nodes = BrokerNodes([DOWN, broker_url])

    with nodes.connect(connect_timeout=2) as connection:
        assert connection.connected and nodes.current == broker_url
    with nodes.connect(connect_timeout=2) as connection:  # starts from the node that answered
        assert connection.connected and nodes.current == broker_url


def test_broker_nodes__every_node_down__raises_the_last_nodes_error():
    nodes = BrokerNodes([DOWN, DOWN.replace(":1/", ":2/")])

    with pytest.raises(ConnectionRefusedError):
        nodes.connect(connect_timeout=2)
    assert nodes.current == DOWN


def test_broker_nodes__no_url__value_error():
    with pytest.raises(ValueError, match="no broker URL"):
        BrokerNodes(" ; ")
