"""Model lists in each wire API's shape, and the shapes providers send instead."""

from __future__ import annotations

import msgspec
import pytest

from modelwire.wire.listing import ListedModel, decode_model_page, page_params


def test_the_openai_list_shape_names_each_model() -> None:
    body = b'{"object":"list","data":[{"id":"a","object":"model","owned_by":"o"},{"id":"b"}]}'
    page = decode_model_page("chat", body)
    assert page.models == (ListedModel(id="a", owned_by="o"), ListedModel(id="b"))
    assert page.next_after is None


def test_a_bare_array_and_codex_models_shape_are_accepted() -> None:
    assert [m.id for m in decode_model_page("responses", b'[{"id":"x"}]').models] == ["x"]
    codex = b'{"models":[{"slug":"gpt-x","display_name":"GPT X"}]}'
    assert decode_model_page("responses", codex).models == (
        ListedModel(id="gpt-x", display_name="GPT X"),
    )


def test_entries_without_a_string_id_are_skipped() -> None:
    body = b'{"data":[{"id":""},{"id":3},"text",{"name":"no id"},{"id":"ok"}]}'
    assert [m.id for m in decode_model_page("chat", body).models] == ["ok"]


def test_messages_pages_continue_after_the_last_id_while_has_more() -> None:
    body = (
        b'{"data":[{"type":"model","id":"c1","display_name":"C 1"}],"has_more":true,"last_id":"c1"}'
    )
    page = decode_model_page("messages", body)
    assert page.models == (ListedModel(id="c1", display_name="C 1"),)
    assert page.next_after == "c1"
    last = b'{"data":[{"id":"c2"}],"has_more":false,"last_id":"c2"}'
    assert decode_model_page("messages", last).next_after is None


def test_only_messages_listings_are_paginated() -> None:
    body = b'{"data":[{"id":"a"}],"has_more":true,"last_id":"a"}'
    assert decode_model_page("chat", body).next_after is None
    assert page_params("chat", None) is None
    assert page_params("messages", None) == {"limit": "1000"}
    assert page_params("messages", "c1") == {"limit": "1000", "after_id": "c1"}


def test_a_body_that_is_not_json_is_a_decode_error() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_model_page("chat", b"<html>")
