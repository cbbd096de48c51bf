"""A full disk (or a lock held too long) under the hub's database is the database's own
failure: reported as a full disk (the file and the fix), no good message is quarantined or
acked for it, and storing resumes by itself once it passes."""

from __future__ import annotations

import logging
import sqlite3
import time

import paho.mqtt.client as mqtt
import pytest
from small_disk import fill, small_disk

from hubtools import Hub, temp_hub
from peakend.broker.hub.db.database import DbTarget, HubDb
from peakend.broker.hub.db.dialect import POSTGRESQL
from peakend.broker.hub.writer import Ingest
from peakend.broker.wire.contract import event_topic, new_envelope

TOPIC = event_topic("s001", "kiosk-01", "rating")


def rating(seq: int) -> bytes:
    return new_envelope(
        device_id="kiosk-01", store_id="s001", zone_id="checkout", seq=seq,
        event_type="rating", data={"score": 3},
    ).to_json()


def test_ingest_on_a_full_disk_quarantines_nothing_and_stores_once_there_is_room() -> None:
    with small_disk(1024) as disk:
        path = disk / "hub.sqlite"
        ingest = Ingest(path)
        try:
            filler = fill(disk)
            for seq in range(1, 40):  # SQLite may still have room in pages it holds
                try:
                    ingest.handle([(TOPIC, rating(seq), time.time())])
                except Exception as exc:
                    error = exc
                    break
            else:
                raise AssertionError("every message fitted on a full disk")
            assert "disk is full" in str(error) and str(path) in str(error), repr(error)
            assert ingest.store.count("quarantine") == 0, "a good message was quarantined"
            assert ingest.store.is_storage_failure(error)
            stored = ingest.store.count("ratings")
            assert stored == seq - 1 and ingest.store.count("ledger") == stored

            filler.unlink()
            result = ingest.handle([(TOPIC, rating(seq), time.time())])
            assert result.counters.stored == 1 and result.counters.quarantined == 0
            assert result.acks == {"kiosk-01": ("s001", seq)}
        finally:
            ingest.close()


def publish(client: mqtt.Client, payload: bytes) -> None:
    client.publish(TOPIC, payload, qos=1).wait_for_publish(5)


def test_a_full_hub_disk_stops_ingest_unacked_and_it_resumes_when_space_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with small_disk(2048) as disk, temp_hub(start=False) as hub:
        hub.db_path = disk / "hub.sqlite"
        hub.start_broker()
        url = hub.provision("kiosk-01", "s001", ["checkout"], "kiosk")
        password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        with caplog.at_level(logging.INFO):
            hub.start_aggregator()  # creates the database on the small disk
            client = device(hub, password)
            try:
                # again until stored: the aggregator's subscription may not be in place yet
                # (a redelivery is a duplicate, harmless)
                first = rating(1)
                assert hub.wait_until(lambda: publish(client, first) or hub.retained_ack(
                    "s001", "kiosk-01") == 1, 30)
                filler = fill(disk)
                for seq in range(2, 12):
                    publish(client, rating(seq))
                assert hub.wait_until(lambda: "disk is full" in caplog.text, 30), caplog.text
                # the file and the fix, not "cannot rollback - no transaction is active"
                assert str(hub.db_path) in caplog.text and "Free space" in caplog.text
                assert "cannot rollback" not in caplog.text
                time.sleep(1.0)
                assert hub.scalar("SELECT count(*) FROM quarantine") == 0
                stuck = hub.scalar("SELECT count(*) FROM ratings")
                assert stuck < 11
                assert hub.wait_until(lambda: hub.retained_ack("s001", "kiosk-01") == stuck, 20)

                filler.unlink()
                assert hub.wait_until(
                    lambda: hub.scalar("SELECT count(*) FROM ratings") == 11, 60
                ), "ingest did not resume once there was room"
                assert hub.wait_until(lambda: hub.retained_ack("s001", "kiosk-01") == 11, 30)
                assert hub.scalar("SELECT count(*) FROM quarantine") == 0
            finally:
                client.loop_stop()
                client.disconnect()


def device(hub: Hub, password: str) -> mqtt.Client:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk-01", protocol=mqtt.MQTTv5
    )
    client.username_pw_set("kiosk-01", password)
    client.connect("127.0.0.1", hub.port)
    client.loop_start()
    return client




def test_a_locked_database_quarantines_nothing_on_either_engine(db_url: str) -> None:
    """Another writer holds what this one needs for longer than it waits: the database's own
    trouble too. (PostgreSQL says "lock timeout", which the hub once took for a bad message.)"""
    ingest = Ingest(db_url)
    db = ingest.store.db
    if db.engine == "sqlite":
        db.raw.execute("PRAGMA busy_timeout=200")
        other = sqlite3.connect(db.target.location, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        db.raw.execute("SET lock_timeout = '200ms'")
        other = psycopg.connect(db.target.location)
        other.execute("LOCK TABLE ratings IN ACCESS EXCLUSIVE MODE")
    try:
        with pytest.raises(Exception) as failed:
            ingest.handle([(TOPIC, rating(1), time.time())])
        assert ingest.store.is_storage_failure(failed.value), repr(failed.value)
        other.rollback() if db.engine == "postgresql" else other.execute("ROLLBACK")
        assert ingest.store.count("quarantine") == 0, "a good message was quarantined"
        result = ingest.handle([(TOPIC, rating(1), time.time())])
        assert result.counters.stored == 1 and result.counters.quarantined == 0
    finally:
        other.close()
        ingest.close()


def test_postgresql_failures_of_the_server_are_told_from_those_a_value_causes() -> None:
    """By SQLSTATE, never by the text: a full disk, a lost connection, a lock timeout are the
    database's; a number out of range or an index row too large are the message's."""
    import psycopg
    from psycopg import errors

    db = HubDb(None, POSTGRESQL, DbTarget("postgresql", "postgresql://hub@nowhere/hub"))
    ours = [errors.DiskFull("could not extend file"), errors.OutOfMemory("out of memory"),
            errors.AdminShutdown("terminating connection"), errors.LockNotAvailable("lock"),
            errors.DeadlockDetected("deadlock"), psycopg.OperationalError("server closed")]
    theirs = [errors.NumericValueOutOfRange("disk"), errors.ProgramLimitExceeded("locked"),
              errors.UniqueViolation("connection"), ValueError("disk full")]
    assert [db.is_storage_failure(e) for e in ours] == [True] * len(ours)
    assert [db.is_storage_failure(e) for e in theirs] == [False] * len(theirs)
