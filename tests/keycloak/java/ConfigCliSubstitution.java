// keycloak-config-cli's reading of an import file, with the libraries it uses:
// KeycloakImportProvider.setupVariableSubstitution / substituteImportResource
// (commons-text StringSubstitutor.createInterpolator(), prefix "$(", suffix ")",
// no substitution in variable names, undefined variables are errors), then
// readContent (SnakeYAML `new Yaml().loadAll(content)`).
// Variables come from this process's environment, as the Job's do.
//
//   java -cp commons-text.jar:commons-lang3.jar:snakeyaml.jar ConfigCliSubstitution.java FILE...
//
// Prints one JSON object per file: {"file": ..., "documents": [...]} or {"file": ..., "error": ...}.
// Exit code 0 when every file substituted and parsed, 1 otherwise.

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.commons.text.StringSubstitutor;
import org.apache.commons.text.lookup.StringLookup;
import org.apache.commons.text.lookup.StringLookupFactory;
import org.yaml.snakeyaml.Yaml;

public class ConfigCliSubstitution {
    public static void main(String[] args) throws Exception {
        StringLookup resolver = StringLookupFactory.INSTANCE.interpolatorStringLookup(
                StringLookupFactory.INSTANCE.functionStringLookup(System::getenv));
        StringSubstitutor interpolator = StringSubstitutor.createInterpolator()
                .setVariableResolver(resolver)
                .setVariablePrefix("$(")
                .setVariableSuffix(")")
                .setEnableSubstitutionInVariables(false)
                .setEnableUndefinedVariableException(true);
        boolean ok = true;
        for (String file : args) {
            StringBuilder out = new StringBuilder("{\"file\":");
            json(out, Path.of(file).getFileName().toString());
            try {
                String content = interpolator.replace(Files.readString(Path.of(file)));
                List<Object> documents = new ArrayList<>();
                for (Object document : new Yaml().loadAll(content)) {
                    documents.add(document);
                }
                out.append(",\"documents\":");
                json(out, documents);
            } catch (RuntimeException e) {
                ok = false;
                out.append(",\"error\":");
                json(out, e.getClass().getSimpleName() + ": " + e.getMessage());
            }
            System.out.println(out.append('}'));
        }
        System.exit(ok ? 0 : 1);
    }

    private static void json(StringBuilder out, Object value) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof String text) {
            out.append('"');
            for (char c : text.toCharArray()) {
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    default -> {
                        if (c < 0x20 || c > 0x7e) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        } else if (value instanceof Boolean || value instanceof Number) {
            out.append(value);
        } else if (value instanceof Map<?, ?> map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> entry : map.entrySet()) {
                if (!first) out.append(',');
                first = false;
                json(out, String.valueOf(entry.getKey()));
                out.append(':');
                json(out, entry.getValue());
            }
            out.append('}');
        } else if (value instanceof List<?> list) {
            out.append('[');
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) out.append(',');
                json(out, list.get(i));
            }
            out.append(']');
        } else {
            throw new IllegalStateException("unexpected YAML value type " + value.getClass());
        }
    }
}
