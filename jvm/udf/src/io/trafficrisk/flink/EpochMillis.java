package io.trafficrisk.flink;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * Milliseconds since the epoch of a {@code TIMESTAMP(3)} read as UTC (the job's session time
 * zone): window bounds leave SQL as plain numbers, so Python needs no date conversion, which
 * differs between PyFlink's process mode (a {@code datetime}) and thread mode (a Java object).
 */
public class EpochMillis extends ScalarFunction {

    public Long eval(LocalDateTime timestamp) {
        return timestamp == null ? null : timestamp.toInstant(ZoneOffset.UTC).toEpochMilli();
    }
}
