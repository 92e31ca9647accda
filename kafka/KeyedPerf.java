// `cargo xtask bench`'s Java producer: Kafka's own client sending keyed (or null-key) records,
// the same records `odradek perf --keys K --payload-file F` and kcat (`key:value` lines) send.
// Kafka's ProducerPerformance has no keys, and shares one value array between its records.
//
//   java -cp 'classes:.kafka/4.1/lib/*' KeyedPerf <bootstrap> <topic> <num-records> <keys> <payload-file> [key=value...]
//
// Record i has the value: the payload file's non-empty lines in turn (line i mod lines), copied
// into a fresh array per record; the key: null when <keys> is 0, else i mod <keys> in decimal,
// zero-padded to 8 digits ("00012345"), a fresh array per record. The producer settings are
// acks=all, enable.idempotence=true, linger.ms=5, batch.size=16384, buffer.memory=33554432, then
// the key=value arguments over them. transaction.records=N (not a Kafka setting) makes it
// transactional (transactional.id keyedperf-<pid> unless given): a transaction is begun before
// every N-th record and committed after the N records (the last one may be shorter); the time
// includes every commit.
//
// Prints, as ProducerPerformance does, one final line:
//   N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P ms 50th, P ms 95th, P ms 99th, P ms 99.9th.
// where the time runs from the first send to the last callback and latency from each send to
// its callback. Exits 1 if any record failed (the first error on stderr).

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class KeyedPerf {
    public static void main(String[] args) throws Exception {
        if (args.length < 5) {
            System.err.println("usage: KeyedPerf <bootstrap> <topic> <num-records> <keys> <payload-file> [key=value...]");
            System.exit(2);
        }
        String topic = args[1];
        int n = Integer.parseInt(args[2]);
        long keys = Long.parseLong(args[3]);
        byte[][] payloads = payloads(args[4]);

        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("acks", "all");
        props.put("enable.idempotence", "true");
        props.put("linger.ms", "5");
        props.put("batch.size", "16384");
        props.put("buffer.memory", "33554432");
        for (int i = 5; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not key=value: " + args[i]);
                System.exit(2);
            }
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        // transaction.records=N (not a Kafka setting): a transaction per N records, as
        // `odradek perf --transaction-records N` runs them.
        int txnRecords = 0;
        Object txn = props.remove("transaction.records");
        if (txn != null) {
            txnRecords = Integer.parseInt(txn.toString());
            props.putIfAbsent("transactional.id", "keyedperf-" + ProcessHandle.current().pid());
        }

        // Latency of record i in µs, -1 once failed; written by the producer's I/O thread,
        // read after flush (whose completion follows every callback).
        final int[] latencyUs = new int[n];
        final long[] last = new long[1];
        final String[] firstError = new String[1];
        long bytes = 0;
        long start;
        try (KafkaProducer<byte[], byte[]> producer =
                new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            if (txnRecords > 0) {
                producer.initTransactions();
            }
            start = System.nanoTime();
            last[0] = start;
            for (int i = 0; i < n; i++) {
                if (txnRecords > 0 && i % txnRecords == 0) {
                    producer.beginTransaction();
                }
                byte[] payload = payloads[i % payloads.length];
                byte[] value = Arrays.copyOf(payload, payload.length);
                byte[] key = keys == 0 ? null : key(i % keys);
                bytes += value.length;
                final int index = i;
                final long sentAt = System.nanoTime();
                producer.send(new ProducerRecord<>(topic, key, value), (metadata, e) -> {
                    long now = System.nanoTime();
                    last[0] = now;
                    if (e == null) {
                        latencyUs[index] = (int) Math.min(Integer.MAX_VALUE, (now - sentAt) / 1000);
                    } else {
                        latencyUs[index] = -1;
                        if (firstError[0] == null) {
                            firstError[0] = e.toString();
                        }
                    }
                });
                if (txnRecords > 0 && ((i + 1) % txnRecords == 0 || i + 1 == n)) {
                    producer.commitTransaction();
                }
            }
            producer.flush();
        }
        int failed = 0;
        for (int l : latencyUs) {
            if (l < 0) {
                failed++;
            }
        }
        int[] ok = new int[n - failed];
        int j = 0;
        long sum = 0;
        for (int l : latencyUs) {
            if (l >= 0) {
                ok[j++] = l;
                sum += l;
            }
        }
        Arrays.sort(ok);
        double secs = Math.max(1e-9, (last[0] - start) / 1e9);
        double rps = n / secs;
        double mbps = bytes / secs / (1024.0 * 1024.0);
        System.out.printf(
                "%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "
                        + "%.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.%n",
                n, rps, mbps, ok.length == 0 ? 0.0 : sum / 1000.0 / ok.length,
                ms(ok, 1.0), ms(ok, 0.50), ms(ok, 0.95), ms(ok, 0.99), ms(ok, 0.999));
        if (failed > 0) {
            System.err.println(failed + " records failed; the first: " + firstError[0]);
            System.exit(1);
        }
    }

    /// The key of record number k: k in decimal, zero-padded to 8 digits.
    static byte[] key(long k) {
        String digits = Long.toString(k);
        int width = Math.max(8, digits.length());
        byte[] key = new byte[width];
        Arrays.fill(key, (byte) '0');
        byte[] d = digits.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(d, 0, key, width - d.length, d.length);
        return key;
    }

    /// The quantile q of sorted latencies (µs), in ms.
    static double ms(int[] sorted, double q) {
        if (sorted.length == 0) {
            return 0.0;
        }
        int i = (int) Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
        return sorted[i] / 1000.0;
    }

    static byte[][] payloads(String path) throws Exception {
        byte[] text = Files.readAllBytes(Paths.get(path));
        List<byte[]> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i <= text.length; i++) {
            if (i == text.length || text[i] == '\n') {
                if (i > start) {
                    out.add(Arrays.copyOfRange(text, start, i));
                }
                start = i + 1;
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(path + ": no payloads");
        }
        return out.toArray(new byte[0][]);
    }
}
