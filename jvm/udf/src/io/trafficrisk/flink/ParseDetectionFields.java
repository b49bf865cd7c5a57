package io.trafficrisk.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.functions.TableFunction;
import org.apache.flink.types.Row;

/**
 * {@link ParseDetection} as a table function: SQL's {@code PARSE_DETECTION}, used as
 * {@code LATERAL TABLE(PARSE_DETECTION(payload)) AS d}, one row out per record in.
 *
 * <p>Why not the scalar function: the planner inlines {@code d.field} of
 * {@code PARSE_DETECTION(payload) AS d} into every field a query reads, so a scalar call ran
 * about a dozen times per record (seen in EXPLAIN), each parsing and checking the whole event
 * and converting its row. Memoising the last record cut the parsing but not the conversions;
 * declaring it non-deterministic made the planner call it once yet measured slower. A
 * table function's row is produced and converted once, by the Correlate operator.
 */
@FunctionHint(output = @DataTypeHint(ParseDetection.RESULT))
public class ParseDetectionFields extends TableFunction<Row> {

    private final ParseDetection check = new ParseDetection(); // serialisable, like every UDF

    public void eval(byte[] payload) {
        Row result;
        try {
            result = check.eval(payload);
        } catch (RuntimeException e) {
            // Always exactly one row: a record the lateral join dropped would vanish unseen.
            result = ParseDetection.defect(e, payload == null ? 0 : payload.length);
        }
        collect(result);
    }
}
