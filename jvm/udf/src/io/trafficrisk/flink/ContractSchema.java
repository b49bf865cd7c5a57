package io.trafficrisk.flink;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Deque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * The contract's JSON Schema (contract/schemas/*.json, generated from the pydantic models),
 * compiled once into a tree of checks and applied to parsed documents.
 *
 * <p>This class knows JSON Schema, not traffic: every field, class name and limit comes from
 * the schema file packaged beside it, so the Python contract stays the only place the rules
 * are written. It implements the keywords pydantic emits plus the contract's {@code x-}
 * keywords (contract/models.py says what they mean); a schema that uses any other keyword is
 * refused when loaded, so a new rule cannot be silently ignored here. JSON semantics follow
 * the contract: an integer is an integer token, numbers are finite, string lengths count code
 * points, and a pattern's {@code $} means the end of the text.
 */
final class ContractSchema {

    private static final Set<String> ANNOTATIONS = Set.of(
            "title", "description", "default", "examples", "$schema", "$id", "$defs",
            "x-vehicle-classes", "contentEncoding");

    private final JsonNode document;
    private final Map<String, Node> definitions = new HashMap<>();
    private final Node root;

    private ContractSchema(JsonNode document) {
        this.document = document;
        this.root = compile(document);
    }

    /** The schema packaged as a class-path resource next to this class. */
    static ContractSchema resource(String name) {
        try (InputStream in = ContractSchema.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("schema " + name + " is not in the jar: "
                        + "./dev setup packages contract/schemas into traffic-risk-udfs.jar");
            }
            return new ContractSchema(new ObjectMapper().readTree(in));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The raw schema document, for annotations such as {@code x-vehicle-classes}. */
    JsonNode document() {
        return document;
    }

    /** Null when {@code doc} satisfies the schema, else "dotted.path: what is wrong". */
    String validate(JsonNode doc) {
        Failure failure = root.check(doc, doc);
        return failure == null ? null : failure.render();
    }

    /** A violation found deep in the tree; the path is prepended while unwinding. */
    private static final class Failure {
        final Deque<String> path = new ArrayDeque<>();
        final String message;

        Failure(String message) {
            this.message = message;
        }

        Failure at(String step) {
            path.addFirst(step);
            return this;
        }

        String render() {
            return (path.isEmpty() ? "<message>" : String.join(".", path)) + ": " + message;
        }
    }

    private Node compile(JsonNode schema) {
        Node node = new Node();
        Iterator<Map.Entry<String, JsonNode>> fields = schema.fields();
        while (fields.hasNext()) {
            Map.Entry<String, JsonNode> entry = fields.next();
            String key = entry.getKey();
            JsonNode value = entry.getValue();
            switch (key) {
                case "type" -> node.types = typeMask(value.asText());
                case "$ref" -> node.ref = value.asText();
                case "const" -> node.allowed = List.of(value);
                case "enum" -> node.allowed = listOf(value);
                case "minimum" -> node.minimum = new Bound(value, false);
                case "exclusiveMinimum" -> node.minimum = new Bound(value, true);
                case "maximum" -> node.maximum = new Bound(value, false);
                case "exclusiveMaximum" -> node.maximum = new Bound(value, true);
                case "minLength" -> node.minLength = value.asInt();
                case "maxLength" -> node.maxLength = value.asInt();
                case "pattern" -> node.pattern = endAnchored(value.asText());
                case "x-max-decoded-bytes" -> node.maxDecodedBytes = value.asInt();
                case "items" -> node.items = compile(value);
                case "prefixItems" -> node.prefixItems = compileAll(value);
                case "minItems" -> node.minItems = value.asInt();
                case "maxItems" -> node.maxItems = value.asInt();
                case "x-index-into" -> node.indexInto = value.asText();
                case "properties" -> {
                    node.properties = new LinkedHashMap<>();
                    value.fields().forEachRemaining(
                            p -> node.properties.put(p.getKey(), compile(p.getValue())));
                }
                case "required" -> node.required = listOf(value).stream()
                        .map(JsonNode::asText).toList();
                case "additionalProperties" -> {
                    if (!value.isBoolean() || value.asBoolean()) {
                        throw new IllegalArgumentException("only additionalProperties: false");
                    }
                    node.closed = true;
                }
                case "x-ordered" -> node.ordered = listOf(value).stream()
                        .map(pair -> new String[] {pair.get(0).asText(), pair.get(1).asText()})
                        .toList();
                case "anyOf" -> node.anyOf = compileAll(value);
                case "oneOf" -> node.oneOf = compileAll(value);
                case "discriminator" -> {
                    node.discriminator = value.get("propertyName").asText();
                    node.mapping = new HashMap<>();
                    value.get("mapping").fields().forEachRemaining(
                            m -> node.mapping.put(m.getKey(), m.getValue().asText()));
                }
                default -> {
                    if (!ANNOTATIONS.contains(key)) {
                        throw new IllegalArgumentException("unsupported schema keyword " + key);
                    }
                }
            }
        }
        if (schema.has("$defs")) {
            schema.get("$defs").fields().forEachRemaining(
                    d -> definitions.put("#/$defs/" + d.getKey(), compile(d.getValue())));
        }
        return node;
    }

    private Node[] compileAll(JsonNode array) {
        Node[] out = new Node[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = compile(array.get(i));
        }
        return out;
    }

    private static List<JsonNode> listOf(JsonNode array) {
        List<JsonNode> out = new ArrayList<>();
        array.forEach(out::add);
        return out;
    }

    /** Python (Rust regex) reads a final {@code $} as end of text; Java's also allows "\n". */
    private static Pattern endAnchored(String regex) {
        boolean anchored = regex.endsWith("$") && !regex.endsWith("\\$");
        return Pattern.compile(anchored ? regex.substring(0, regex.length() - 1) + "\\z" : regex);
    }

    private static final int STRING = 1, INTEGER = 2, NUMBER = 4, BOOLEAN = 8, ARRAY = 16,
            OBJECT = 32, NULL = 64;

    private static int typeMask(String type) {
        return switch (type) {
            case "string" -> STRING;
            case "integer" -> INTEGER;
            case "number" -> NUMBER | INTEGER;
            case "boolean" -> BOOLEAN;
            case "array" -> ARRAY;
            case "object" -> OBJECT;
            case "null" -> NULL;
            default -> throw new IllegalArgumentException("unknown type " + type);
        };
    }

    private static int typeOf(JsonNode value) {
        switch (value.getNodeType()) {
            case STRING:
                return STRING;
            case NUMBER:
                return value.isIntegralNumber() ? INTEGER : NUMBER;
            case BOOLEAN:
                return BOOLEAN;
            case ARRAY:
                return ARRAY;
            case OBJECT:
                return OBJECT;
            default:
                return NULL;
        }
    }

    /** A numeric limit, compared exactly for integers and as a double for decimals. */
    private static final class Bound {
        final BigDecimal exact;
        final double approx;
        final boolean exclusive;
        final Long whole; // the bound as a long, when it is one: the fast exact path

        Bound(JsonNode value, boolean exclusive) {
            this.exact = value.decimalValue();
            this.approx = value.doubleValue();
            this.exclusive = exclusive;
            Long asLong;
            try {
                asLong = exact.longValueExact();
            } catch (ArithmeticException e) {
                asLong = null;
            }
            this.whole = asLong;
        }

        /** Sign of value - bound. */
        int compare(JsonNode value) {
            if (value.isInt() || value.isLong()) {
                return whole != null
                        ? Long.compare(value.longValue(), whole)
                        : BigDecimal.valueOf(value.longValue()).compareTo(exact);
            }
            if (value.isBigInteger()) {
                return new BigDecimal(value.bigIntegerValue()).compareTo(exact);
            }
            double number = value.doubleValue(); // not Double.compare: -0.0 >= 0 holds
            return number < approx ? -1 : number > approx ? 1 : 0;
        }

        String text() {
            return exact.stripTrailingZeros().toPlainString();
        }
    }

    /** One compiled schema object; unset fields (null / -1) are keywords it does not use. */
    private final class Node {
        int types = -1;
        String ref;
        List<JsonNode> allowed;
        Bound minimum;
        Bound maximum;
        int minLength = -1;
        int maxLength = -1;
        Pattern pattern;
        int maxDecodedBytes = -1;
        Node items;
        Node[] prefixItems;
        int minItems = -1;
        int maxItems = -1;
        String indexInto;
        Map<String, Node> properties;
        List<String> required;
        boolean closed;
        List<String[]> ordered;
        Node[] anyOf;
        Node[] oneOf;
        String[] names; // properties and required, flattened for the per-event loop
        Node[] schemas;
        boolean[] mandatory;
        String discriminator;
        Map<String, String> mapping;

        private Node target; // `ref`, resolved on first use

        Failure check(JsonNode value, JsonNode root) {
            if (ref != null) {
                if (target == null) {
                    target = definitions.get(ref);
                }
                Failure failure = target.check(value, root);
                if (failure != null) {
                    return failure;
                }
            }
            int type = typeOf(value);
            if (types != -1 && (types & type) == 0) {
                return new Failure("wrong type " + typeName(type));
            }
            if (type == NUMBER && !Double.isFinite(value.doubleValue())
                    || type == INTEGER && types != -1 && (types & NUMBER) != 0
                    && value.isBigInteger() && !Double.isFinite(value.doubleValue())) {
                return new Failure("not a finite number");
            }
            if (allowed != null && !allowed.contains(value)) {
                return new Failure("not one of " + allowed);
            }
            Failure failure = switch (type) {
                case INTEGER, NUMBER -> checkNumber(value);
                case STRING -> checkString(value.textValue());
                case ARRAY -> checkArray(value, root);
                case OBJECT -> checkObject(value, root);
                default -> null;
            };
            return failure != null ? failure : checkAlternatives(value, root);
        }

        private Failure checkNumber(JsonNode value) {
            if (minimum != null) {
                int sign = minimum.compare(value);
                if (sign < 0 || sign == 0 && minimum.exclusive) {
                    return new Failure("must be " + (minimum.exclusive ? "> " : ">= ")
                            + minimum.text());
                }
            }
            if (maximum != null) {
                int sign = maximum.compare(value);
                if (sign > 0 || sign == 0 && maximum.exclusive) {
                    return new Failure("must be " + (maximum.exclusive ? "< " : "<= ")
                            + maximum.text());
                }
            }
            return null;
        }

        private Failure checkString(String text) {
            if (hasUnpairedSurrogate(text)) {
                return new Failure("contains an unpaired surrogate (not valid Unicode)");
            }
            if (minLength != -1 || maxLength != -1) {
                int length = text.codePointCount(0, text.length());
                if (length < minLength) {
                    return new Failure("shorter than " + minLength + " characters");
                }
                if (maxLength != -1 && length > maxLength) {
                    return new Failure("longer than " + maxLength + " characters");
                }
            }
            if (pattern != null && !pattern.matcher(text).find()) {
                return new Failure("does not match " + pattern.pattern());
            }
            if (maxDecodedBytes != -1) {
                return checkBase64(text);
            }
            return null;
        }

        /** JSON escapes can spell half a surrogate pair; Python refuses such text. */
        private static boolean hasUnpairedSurrogate(String text) {
            for (int i = 0; i < text.length(); i++) {
                char c = text.charAt(i);
                if (Character.isHighSurrogate(c)) {
                    if (i + 1 == text.length() || !Character.isLowSurrogate(text.charAt(i + 1))) {
                        return true;
                    }
                    i++;
                } else if (Character.isLowSurrogate(c)) {
                    return true;
                }
            }
            return false;
        }

        /** Standard alphabet with padding, as Python's b64decode(validate=True). */
        private Failure checkBase64(String text) {
            if (text.length() % 4 != 0) {
                return new Failure("not valid base64 (length not a multiple of 4)");
            }
            byte[] decoded;
            try {
                decoded = Base64.getDecoder().decode(text);
            } catch (IllegalArgumentException e) {
                return new Failure("not valid base64");
            }
            return decoded.length > maxDecodedBytes
                    ? new Failure(decoded.length + " bytes decoded, cap " + maxDecodedBytes)
                    : null;
        }

        private Failure checkArray(JsonNode array, JsonNode root) {
            int size = array.size();
            if (size < minItems) {
                return new Failure("fewer than " + minItems + " items");
            }
            if (maxItems != -1 && size > maxItems) {
                return new Failure("more than " + maxItems + " items");
            }
            for (int i = 0; i < size; i++) {
                Node itemSchema = prefixItems != null && i < prefixItems.length
                        ? prefixItems[i] : items;
                if (itemSchema != null) {
                    Failure failure = itemSchema.check(array.get(i), root);
                    if (failure != null) {
                        return failure.at(Integer.toString(i));
                    }
                }
            }
            if (indexInto != null) {
                int limit = root.at(indexInto).size();
                for (int i = 0; i < size; i++) {
                    if (array.get(i).asLong() >= limit) {
                        return new Failure("index " + array.get(i).asLong()
                                + " not in " + indexInto + " (" + limit + " items)").at(
                                Integer.toString(i));
                    }
                }
            }
            return null;
        }

        private Failure checkObject(JsonNode object, JsonNode root) {
            if (names == null) {
                compileProperties();
            }
            int found = 0;
            for (int i = 0; i < names.length; i++) {
                JsonNode field = object.get(names[i]);
                if (field == null) {
                    if (mandatory[i]) {
                        return new Failure("field required").at(names[i]);
                    }
                    continue;
                }
                found++;
                Failure failure = schemas[i].check(field, root);
                if (failure != null) {
                    return failure.at(names[i]);
                }
            }
            if (closed && found != object.size()) {
                Iterator<String> fields = object.fieldNames();
                while (fields.hasNext()) {
                    String name = fields.next();
                    if (properties == null || !properties.containsKey(name)) {
                        return new Failure("extra field not permitted").at(name);
                    }
                }
            }
            if (ordered != null) {
                for (String[] pair : ordered) {
                    JsonNode low = object.get(pair[0]);
                    JsonNode high = object.get(pair[1]);
                    if (low != null && high != null && high.doubleValue() < low.doubleValue()) {
                        return new Failure("out of order: need " + pair[0] + " <= " + pair[1]);
                    }
                }
            }
            return null;
        }

        private void compileProperties() {
            Map<String, Node> all = new LinkedHashMap<>();
            if (required != null) {
                required.forEach(name -> all.put(name, null));
            }
            if (properties != null) {
                all.putAll(properties);
            }
            String[] keys = all.keySet().toArray(new String[0]);
            Node[] nodes = new Node[keys.length];
            boolean[] needed = new boolean[keys.length];
            for (int i = 0; i < keys.length; i++) {
                Node schema = all.get(keys[i]);
                nodes[i] = schema != null ? schema : new Node();
                needed[i] = required != null && required.contains(keys[i]);
            }
            schemas = nodes;
            mandatory = needed;
            names = keys;
        }

        private Failure checkAlternatives(JsonNode value, JsonNode root) {
            if (anyOf != null) {
                Failure first = null;
                for (Node alternative : anyOf) {
                    Failure failure = alternative.check(value, root);
                    if (failure == null) {
                        return null;
                    }
                    first = first == null ? failure : first;
                }
                return first;
            }
            if (oneOf != null) {
                if (discriminator != null) {
                    JsonNode tag = value.get(discriminator);
                    String target = tag != null && tag.isTextual() ? mapping.get(tag.asText()) : null;
                    if (target == null) {
                        return new Failure("unknown " + discriminator + " "
                                + (tag == null ? "(missing)" : tag.toString()));
                    }
                    return definitions.get(target).check(value, root);
                }
                int matches = 0;
                Failure first = null;
                for (Node alternative : oneOf) {
                    Failure failure = alternative.check(value, root);
                    matches += failure == null ? 1 : 0;
                    first = first == null ? failure : first;
                }
                return matches == 1 ? null
                        : matches == 0 ? first : new Failure("matches more than one schema");
            }
            return null;
        }
    }

    private static String typeName(int type) {
        return switch (type) {
            case STRING -> "string";
            case INTEGER -> "integer";
            case NUMBER -> "number";
            case BOOLEAN -> "boolean";
            case ARRAY -> "array";
            case OBJECT -> "object";
            default -> "null";
        };
    }
}
