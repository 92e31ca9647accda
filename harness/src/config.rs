//! Each node's `server.properties`: KRaft roles, listeners, quorum voters, data folder.

use crate::cluster::Listener;
use crate::Version;
use std::path::Path;

#[allow(clippy::too_many_arguments)]
pub(crate) fn server_properties(
    version: Version,
    id: u32,
    nodes: u32,
    port: u16,
    cport: u16,
    voters: &str,
    data: &Path,
    extra: &[(String, String)],
    listeners: &[Listener],
) -> String {
    let rf = nodes.min(3);
    let min_isr = if nodes >= 3 { 2 } else { 1 };
    let (mut bind, mut advertise, mut map) = (String::new(), String::new(), String::new());
    for l in listeners {
        bind.push_str(&format!(",{}://127.0.0.1:{}", l.name, l.port));
        let advertised_port = l.advertised_port.unwrap_or(l.port);
        advertise.push_str(&format!(
            ",{}://{}:{advertised_port}",
            l.name, l.advertised_host
        ));
        map.push_str(&format!(",{}:{}", l.name, l.protocol));
    }
    let mut p = format!(
        "# Written by odradek's Kafka harness (harness/, crate odradek-kafka-harness).\n\
         process.roles=broker,controller\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}{bind}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port}{advertise}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT{map}\n\
         log.dirs={data}\n\
         auto.create.topics.enable=false\n\
         num.partitions=1\n\
         default.replication.factor={rf}\n\
         min.insync.replicas={min_isr}\n\
         offsets.topic.replication.factor={rf}\n\
         offsets.topic.num.partitions=3\n\
         transaction.state.log.replication.factor={rf}\n\
         transaction.state.log.min.isr={min_isr}\n\
         group.initial.rebalance.delay.ms=0\n\
         num.network.threads=2\n\
         num.io.threads=4\n\
         num.recovery.threads.per.data.dir=1\n",
        data = data.display()
    );
    if version.is_4x() {
        // Share groups exist from 4.0 on; 3.9 would only warn about unknown settings.
        p.push_str(&format!(
            "share.coordinator.state.topic.replication.factor={rf}\n\
             share.coordinator.state.topic.min.isr={min_isr}\n"
        ));
    }
    // Kafka 3.9 accepts Produce v0-v2 (MessageSet magic 0/1) with its defaults and converts
    // such batches to RecordBatch v2 on append; `log.message.format.version` is ignored
    // since 3.0, so nothing needs setting for the legacy-format tests.
    for (k, v) in extra {
        p.push_str(&format!("{k}={v}\n"));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_properties_for_three_nodes() {
        let p = server_properties(
            Version::V4_1,
            2,
            3,
            9000,
            9001,
            "1@127.0.0.1:1,2@127.0.0.1:9001,3@127.0.0.1:3",
            Path::new("/d"),
            &[("a.b".into(), "c".into())],
            &[],
        );
        for line in [
            "node.id=2",
            "min.insync.replicas=2",
            "offsets.topic.replication.factor=3",
            "auto.create.topics.enable=false",
            "listeners=PLAINTEXT://127.0.0.1:9000,CONTROLLER://127.0.0.1:9001",
            "share.coordinator.state.topic.replication.factor=3",
            "a.b=c",
        ] {
            assert!(p.lines().any(|l| l == line), "missing {line} in\n{p}");
        }
        let p39 = server_properties(
            Version::V3_9,
            1,
            1,
            1,
            2,
            "1@127.0.0.1:2",
            Path::new("/d"),
            &[],
            &[Listener {
                name: "SSL".into(),
                protocol: "SSL".into(),
                port: 7,
                advertised_host: "localhost".into(),
                advertised_port: None,
            }],
        );
        assert!(!p39.contains("share.coordinator"));
        let p44 = server_properties(
            Version::V4_4,
            1,
            1,
            1,
            2,
            "1@127.0.0.1:2",
            Path::new("/d"),
            &[],
            &[],
        );
        assert!(p44
            .lines()
            .any(|l| l == "share.coordinator.state.topic.replication.factor=1"));
        for line in [
            "listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2,SSL://127.0.0.1:7",
            "advertised.listeners=PLAINTEXT://127.0.0.1:1,SSL://localhost:7",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL",
        ] {
            assert!(p39.lines().any(|l| l == line), "missing {line} in\n{p39}");
        }
        assert!(p39.lines().any(|l| l == "min.insync.replicas=1"));
        let proxied = server_properties(
            Version::V4_1,
            3,
            3,
            1,
            2,
            "",
            Path::new("/d"),
            &[],
            &[Listener {
                name: "PROXIED".into(),
                protocol: "PLAINTEXT".into(),
                port: 7,
                advertised_host: "127.0.0.1".into(),
                advertised_port: Some(9),
            }],
        );
        for line in [
            "listeners=PLAINTEXT://127.0.0.1:1,CONTROLLER://127.0.0.1:2,PROXIED://127.0.0.1:7",
            "advertised.listeners=PLAINTEXT://127.0.0.1:1,PROXIED://127.0.0.1:9",
            "inter.broker.listener.name=PLAINTEXT",
        ] {
            assert!(
                proxied.lines().any(|l| l == line),
                "missing {line} in\n{proxied}"
            );
        }
    }
}
