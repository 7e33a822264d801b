//! Every end-to-end test in one binary, as wasmtime's `tests/all`: each test module would
//! otherwise link wasmtime and librdkafka into a binary of its own. The tests run the real
//! `connectd` binary (on random free ports, each with its own data directory) and talk to it
//! with clients no one here wrote: librdkafka (the rdkafka crate), kcat, confluent-kafka and
//! kafka-python.

mod architecture;
mod connectors;
mod deploy;
mod lake_support;
mod readme_keys;
mod sql_support;
mod support;
mod wire;

mod broker_bad_input;
mod broker_codecs_groups;
mod broker_crash;
mod broker_kcat;
mod broker_python;
mod broker_rdkafka;
mod broker_security;
mod worker_cluster;
mod worker_exactly_once;
mod worker_file_source;
mod worker_lake;
mod worker_rest;
mod worker_security;
mod worker_sql;
mod worker_sql_sink;
mod worker_transforms;
