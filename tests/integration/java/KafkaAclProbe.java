import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.flink.kafka.shaded.org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Kafka's Java client as the job's Flink connector ships it (shaded), with the client
 * properties the job is deployed with, tries what the job does (and what it must not):
 * a transactional write and a group read. One line per attempt: "NAME ok" or "NAME denied
 * EXCEPTION". Used by tests/integration/test_kafka_acls.py.
 *
 * <p>Arguments: a properties file (the job's --kafka-property values), bootstrap servers,
 * then attempts as NAME=produce:TRANSACTIONAL_ID:TOPIC or NAME=consume:GROUP:TOPIC.
 */
public class KafkaAclProbe {
    public static void main(String[] args) throws Exception {
        Properties base = new Properties();
        try (var in = Files.newBufferedReader(Path.of(args[0]))) {
            base.load(in);
        }
        base.put("bootstrap.servers", args[1]);
        for (int i = 2; i < args.length; i++) {
            String[] nameAndWhat = args[i].split("=", 2);
            String[] what = nameAndWhat[1].split(":", 3);
            try {
                if (what[0].equals("produce")) {
                    produce(base, what[1], what[2]);
                } else {
                    consume(base, what[1], what[2]);
                }
                System.out.println(nameAndWhat[0] + " ok");
            } catch (Exception e) {
                // send().get() wraps the broker's answer in an ExecutionException.
                Throwable cause = e instanceof ExecutionException && e.getCause() != null
                        ? e.getCause() : e;
                System.out.println(nameAndWhat[0] + " denied " + cause.getClass().getSimpleName());
            }
        }
    }

    static void produce(Properties base, String transactionalId, String topic) throws Exception {
        Properties props = new Properties();
        props.putAll(base);
        props.put("transactional.id", transactionalId);
        props.put("max.block.ms", "20000");
        try (var producer = new KafkaProducer<byte[], byte[]>(
                props, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, "k".getBytes(), "v".getBytes())).get();
            producer.commitTransaction();
        }
    }

    static void consume(Properties base, String group, String topic) {
        Properties props = new Properties();
        props.putAll(base);
        props.put("group.id", group);
        props.put("auto.offset.reset", "earliest");
        props.put("isolation.level", "read_committed");
        try (var consumer = new KafkaConsumer<byte[], byte[]>(
                props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 30_000;
            while (System.currentTimeMillis() < deadline) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofSeconds(1));
                if (!records.isEmpty()) {
                    consumer.commitSync();
                    return;
                }
            }
            throw new IllegalStateException("nothing read within 30 s");
        }
    }
}
