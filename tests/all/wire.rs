//! Raw Kafka frames for the tests that need bytes no client would send, or need to see the
//! broker's exact answer: requests encoded by kafka-protocol, written to a plain socket.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::support::Connectd;

/// A plain socket to the broker, with a 5 s read timeout.
pub fn connect(c: &Connectd) -> TcpStream {
    let s = TcpStream::connect(c.bootstrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Writes `body` as one size-prefixed frame.
pub fn send_raw(s: &mut TcpStream, body: &[u8]) {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    let _ = s.write_all(&frame);
}

pub fn request(key: ApiKey, version: i16, body: &impl Encodable) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("bad-input-test")));
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

pub fn read_response(s: &mut TcpStream) -> bytes::Bytes {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    bytes::Bytes::from(body)
}

/// Produces `batch` (acks=all, v7) to partition 0 of `topic` on `s`; returns the partition's
/// answer (error code, base offset).
pub fn produce_raw(
    s: &mut TcpStream,
    topic: &'static str,
    batch: bytes::Bytes,
) -> PartitionProduceResponse {
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(topic)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    send_raw(s, &request(ApiKey::Produce, 7, &produce));
    let mut resp = read_response(s);
    ResponseHeader::decode(&mut resp, 0).unwrap();
    let answer = ProduceResponse::decode(&mut resp, 7).unwrap();
    answer.responses[0].partition_responses[0].clone()
}

pub fn api_versions(c: &Connectd) -> ApiVersionsResponse {
    ask_api_versions(&mut connect(c))
}

/// Sends ApiVersions v0 on `s` and reads the answer.
pub fn ask_api_versions(s: &mut TcpStream) -> ApiVersionsResponse {
    send_raw(
        s,
        &request(
            ApiKey::ApiVersions,
            0,
            &kafka_protocol::messages::ApiVersionsRequest::default(),
        ),
    );
    let mut resp = read_response(s);
    ResponseHeader::decode(&mut resp, 0).unwrap();
    ApiVersionsResponse::decode(&mut resp, 0).unwrap()
}
