package io.trafficrisk.flink;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.function.Function;

import org.apache.flink.types.Row;

/**
 * The job's contract check ({@link ParseDetection}, the very function SQL calls) outside
 * Flink, for the differential test and the benchmark.
 *
 * <pre>
 *   check:  stdin  one case per line, base64 of the record value or "-" for a null value
 *           stdout "ok" or "reject\t&lt;reason&gt;" per case, in order
 *   --topic signal-states: the same, through {@link ParseSignal} (default: detections)
 *   --bench FILE SECONDS: events/s of eval() over FILE's cases (same format), after warm-up
 * </pre>
 */
public final class ContractCheck {

    private ContractCheck() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 3 && args[0].equals("--bench")) {
            bench(Files.readAllLines(Path.of(args[1])), Double.parseDouble(args[2]));
            return;
        }
        Function<byte[], Row> check = args.length == 2 && args[0].equals("--topic")
                ? checkerOf(args[1])
                : new ParseDetection()::eval;
        BufferedReader in = new BufferedReader(
                new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        BufferedWriter out = new BufferedWriter(
                new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            Row row = check.apply(decode(line));
            Object error = row.getField(0);
            out.write(error == null ? "ok" : "reject\t" + oneLine(error.toString()));
            out.newLine();
        }
        out.flush();
    }

    private static Function<byte[], Row> checkerOf(String topic) {
        return switch (topic) {
            case "detection-results" -> new ParseDetection()::eval;
            case "signal-states" -> new ParseSignal()::check;
            default -> throw new IllegalArgumentException("no input check for topic " + topic);
        };
    }

    private static byte[] decode(String line) {
        return line.equals("-") ? null : Base64.getDecoder().decode(line.trim());
    }

    private static String oneLine(String text) {
        return text.replace('\n', ' ').replace('\r', ' ').replace('\t', ' ');
    }

    /** Prints "events_per_s accepted" after one warm-up pass of SECONDS/3. */
    private static void bench(List<String> lines, double seconds) {
        List<byte[]> cases = new ArrayList<>();
        lines.forEach(line -> cases.add(decode(line)));
        ParseDetection check = new ParseDetection();
        run(check, cases, seconds / 3);
        long[] result = run(check, cases, seconds);
        System.out.printf("%.1f %d%n", result[0] * 1e9 / result[1], result[2]);
    }

    private static long[] run(ParseDetection check, List<byte[]> cases, double seconds) {
        long started = System.nanoTime();
        long deadline = started + (long) (seconds * 1e9);
        long events = 0;
        long accepted = 0;
        while (System.nanoTime() < deadline) {
            for (byte[] payload : cases) {
                accepted += check.eval(payload).getField(0) == null ? 1 : 0;
            }
            events += cases.size();
        }
        return new long[] {events, System.nanoTime() - started, accepted};
    }
}
