// An independent, binary-safe reference client for odradek's tests, built on Kafka's own Java
// client (kafka-clients from the same .kafka/<version>/lib folder as the broker).
//
// Run with Java's single-file source launcher, no build step:
//
//   java -cp '.kafka/4.1/lib/*' kafka/RecordTool.java consume <bootstrap> <topic>[,<topic>...] <expected> <timeout-ms> [read_committed|read_uncommitted]
//   java -cp '.kafka/4.1/lib/*' kafka/RecordTool.java group-offsets <bootstrap> <group>
//   java -cp '.kafka/4.1/lib/*' kafka/RecordTool.java produce <bootstrap> <topic>   < records
//   java -cp '.kafka/4.1/lib/*' kafka/RecordTool.java create <bootstrap> <name>:<partitions>:<replication>[:k=v,k=v...]...
//
// Every byte string is written as lowercase hex, "-" for null, so any bytes round-trip exactly.
//
// consume: reads every partition of the topics from the beginning until it has seen at least
// <expected> records in all AND has reached the partitions' end offsets (so extra records show
// up too), or until <timeout-ms> passes. Prints one line per record, ordered by topic, partition,
// offset:
//   R <topic> <partition> <offset> <timestamp-type> <timestamp> <key> <value> <header-count> [<hkey> <hvalue>]...
// then "END <count> <complete|timeout>". Fields are separated by one TAB. The isolation level is
// read_uncommitted (the consumer's default) unless given; under read_committed the partitions'
// end is their last stable offset.
//
// group-offsets: the committed offsets of a consumer group (stable: waits out pending
// transactional offsets), one line "O <topic> <partition> <offset>" each, sorted, then "END <count>".
//
// produce: reads lines "<partition|-> <timestamp|-> <key> <value> <header-count> [<hkey> <hvalue>]..."
// (TAB-separated, hex as above), sends them with acks=all and prints "M <partition> <offset>" per
// record in input order, or "E <message>" for a failed one.
//
// create: creates all the topics with one Admin request (much faster than one TopicCommand JVM
// per topic) and prints "OK".

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Future;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class RecordTool {
    public static void main(String[] args) throws Exception {
        if (args.length >= 5 && args[0].equals("consume")) {
            consume(args[1], args[2], Integer.parseInt(args[3]), Long.parseLong(args[4]),
                    args.length >= 6 ? args[5] : "read_uncommitted");
        } else if (args.length >= 3 && args[0].equals("group-offsets")) {
            groupOffsets(args[1], args[2]);
        } else if (args.length >= 3 && args[0].equals("produce")) {
            produce(args[1], args[2]);
        } else if (args.length >= 3 && args[0].equals("create")) {
            create(args[1], java.util.Arrays.copyOfRange(args, 2, args.length));
        } else {
            System.err.println("usage: RecordTool consume <bootstrap> <topic> <expected> <timeout-ms>"
                    + " | produce <bootstrap> <topic> | create <bootstrap> <name:partitions:replication[:k=v,...]>...");
            System.exit(2);
        }
    }

    static String hex(byte[] b) {
        if (b == null) {
            return "-";
        }
        StringBuilder s = new StringBuilder(b.length * 2);
        for (byte x : b) {
            s.append(Character.forDigit((x >> 4) & 0xf, 16)).append(Character.forDigit(x & 0xf, 16));
        }
        return s.toString();
    }

    static byte[] unhex(String s) {
        if (s.equals("-")) {
            return null;
        }
        if (s.length() % 2 != 0) {
            throw new IllegalArgumentException("odd hex length");
        }
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static void create(String bootstrap, String[] specs) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "odradek-record-tool");
        List<org.apache.kafka.clients.admin.NewTopic> topics = new ArrayList<>();
        for (String spec : specs) {
            String[] f = spec.split(":", 4);
            org.apache.kafka.clients.admin.NewTopic t = new org.apache.kafka.clients.admin.NewTopic(
                    f[0], Integer.parseInt(f[1]), Short.parseShort(f[2]));
            if (f.length == 4 && !f[3].isEmpty()) {
                Map<String, String> configs = new HashMap<>();
                for (String kv : f[3].split(",")) {
                    String[] pair = kv.split("=", 2);
                    configs.put(pair[0], pair[1]);
                }
                t.configs(configs);
            }
            topics.add(t);
        }
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(p)) {
            admin.createTopics(topics).all().get();
        }
        System.out.println("OK");
    }

    static void groupOffsets(String bootstrap, String group) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("client.id", "odradek-record-tool");
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(p)) {
            Map<TopicPartition, org.apache.kafka.clients.consumer.OffsetAndMetadata> offsets = admin
                    .listConsumerGroupOffsets(group,
                            new org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions().requireStable(true))
                    .partitionsToOffsetAndMetadata().get();
            List<TopicPartition> parts = new ArrayList<>(offsets.keySet());
            parts.sort(Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
            StringBuilder out = new StringBuilder();
            int n = 0;
            for (TopicPartition tp : parts) {
                if (offsets.get(tp) == null) {
                    continue;
                }
                out.append("O\t").append(tp.topic()).append('\t').append(tp.partition()).append('\t')
                        .append(offsets.get(tp).offset()).append('\n');
                n++;
            }
            out.append("END\t").append(n).append('\n');
            System.out.print(out);
            System.out.flush();
        }
    }

    static void consume(String bootstrap, String topicList, int expected, long timeoutMs, String isolation) {
        Properties p = new Properties();
        p.put("isolation.level", isolation);
        p.put("bootstrap.servers", bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("client.id", "odradek-record-tool");
        long deadline = System.currentTimeMillis() + timeoutMs;
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        boolean complete = false;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            for (String topic : topicList.split(",")) {
                for (PartitionInfo info : c.partitionsFor(topic, Duration.ofMillis(timeoutMs))) {
                    parts.add(new TopicPartition(topic, info.partition()));
                }
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    got.add(r);
                }
                if (got.size() >= expected) {
                    Map<TopicPartition, Long> end = c.endOffsets(parts);
                    boolean atEnd = true;
                    for (TopicPartition tp : parts) {
                        if (c.position(tp) < end.get(tp)) {
                            atEnd = false;
                        }
                    }
                    if (atEnd) {
                        complete = true;
                        break;
                    }
                }
            }
        }
        got.sort(Comparator.<ConsumerRecord<byte[], byte[]>, String>comparing(ConsumerRecord::topic)
                .thenComparingInt(ConsumerRecord::partition)
                .thenComparingLong(ConsumerRecord::offset));
        StringBuilder out = new StringBuilder();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            out.append("R\t").append(r.topic()).append('\t').append(r.partition()).append('\t').append(r.offset()).append('\t')
                    .append(r.timestampType().id).append('\t').append(r.timestamp()).append('\t')
                    .append(hex(r.key())).append('\t').append(hex(r.value()));
            Header[] hs = r.headers().toArray();
            out.append('\t').append(hs.length);
            for (Header h : hs) {
                out.append('\t').append(hex(h.key().getBytes(StandardCharsets.UTF_8)))
                        .append('\t').append(hex(h.value()));
            }
            out.append('\n');
        }
        out.append("END\t").append(got.size()).append('\t').append(complete ? "complete" : "timeout").append('\n');
        System.out.print(out);
        System.out.flush();
    }

    static void produce(String bootstrap, String topic) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("acks", "all");
        // Fail fast on unknown topics instead of blocking 60 s for metadata.
        p.put("max.block.ms", "10000");
        p.put("delivery.timeout.ms", "30000");
        p.put("request.timeout.ms", "20000");
        p.put("client.id", "odradek-record-tool");
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(p)) {
            java.io.BufferedReader in = new java.io.BufferedReader(
                    new java.io.InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                Integer partition = f[0].equals("-") ? null : Integer.valueOf(f[0]);
                Long ts = f[1].equals("-") ? null : Long.valueOf(f[1]);
                RecordHeaders headers = new RecordHeaders();
                int n = Integer.parseInt(f[4]);
                for (int i = 0; i < n; i++) {
                    headers.add(new String(unhex(f[5 + 2 * i]), StandardCharsets.UTF_8), unhex(f[6 + 2 * i]));
                }
                futures.add(prod.send(new ProducerRecord<>(topic, partition, ts, unhex(f[2]), unhex(f[3]), headers)));
            }
            prod.flush();
        }
        StringBuilder out = new StringBuilder();
        for (Future<RecordMetadata> f : futures) {
            try {
                RecordMetadata m = f.get();
                out.append("M\t").append(m.partition()).append('\t').append(m.offset()).append('\n');
            } catch (Exception e) {
                out.append("E\t").append(String.valueOf(e.getMessage()).replace('\n', ' ')).append('\n');
            }
        }
        System.out.print(out);
        System.out.flush();
    }
}
