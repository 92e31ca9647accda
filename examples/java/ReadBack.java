// The demo's independent read-back: Kafka's own Java consumer reads a whole topic from the
// beginning and streams one line per record to stdout, so a million records never have to sit
// in memory. Run with the JDK's single-file source launcher and the fetched jars:
//
//   java -cp '.kafka/4.1/lib/*' examples/java/ReadBack.java <bootstrap> <topic> <idle-ms>
//
// Output, fields separated by one TAB, records of a partition in offset order:
//   R <partition> <offset> <key> <value>     key/value: "-" for null, else "=" + the raw bytes
//                                            (so the records must not contain a newline)
//   END <count> <complete|timeout>
// It stops once every partition's position reaches the end offset taken at start, or after
// <idle-ms> without a new record ("timeout").

import java.io.BufferedOutputStream;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class ReadBack {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: ReadBack <bootstrap> <topic> <idle-ms>");
            System.exit(2);
        }
        String bootstrap = args[0];
        String topic = args[1];
        long idleMs = Long.parseLong(args[2]);

        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        p.put("auto.offset.reset", "earliest");
        p.put("client.id", "odradek-demo-readback");
        p.put("max.poll.records", "10000");
        p.put("max.partition.fetch.bytes", Integer.toString(8 << 20));
        p.put("fetch.max.bytes", Integer.toString(64 << 20));
        p.put("receive.buffer.bytes", Integer.toString(4 << 20));
        p.put("check.crcs", "true");

        OutputStream out = new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 20);
        long count = 0;
        boolean complete = false;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo info : c.partitionsFor(topic, Duration.ofSeconds(30))) {
                parts.add(new TopicPartition(topic, info.partition()));
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts, Duration.ofSeconds(30));
            long lastProgress = System.currentTimeMillis();
            while (true) {
                boolean atEnd = true;
                for (TopicPartition tp : parts) {
                    if (c.position(tp) < end.get(tp)) {
                        atEnd = false;
                        break;
                    }
                }
                if (atEnd) {
                    complete = true;
                    break;
                }
                if (System.currentTimeMillis() - lastProgress > idleMs) {
                    break;
                }
                ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(200));
                if (!records.isEmpty()) {
                    lastProgress = System.currentTimeMillis();
                }
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    out.write('R');
                    out.write('\t');
                    ascii(out, Integer.toString(r.partition()));
                    out.write('\t');
                    ascii(out, Long.toString(r.offset()));
                    out.write('\t');
                    bytes(out, r.key());
                    out.write('\t');
                    bytes(out, r.value());
                    out.write('\n');
                    count++;
                }
            }
        }
        ascii(out, "END\t" + count + "\t" + (complete ? "complete" : "timeout") + "\n");
        out.flush();
    }

    static void ascii(OutputStream out, String s) throws IOException {
        out.write(s.getBytes(StandardCharsets.ISO_8859_1));
    }

    static void bytes(OutputStream out, byte[] b) throws IOException {
        if (b == null) {
            out.write('-');
        } else {
            out.write('=');
            out.write(b);
        }
    }
}
