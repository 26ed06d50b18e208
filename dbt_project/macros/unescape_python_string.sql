{#- Undo the escapes Python's repr() puts in a string literal's body: \\ \' \" \n \t \r (SQL strings keep backslashes as-is). -#}
{% macro unescape_python_string(expression) -%}
    replace(
        replace(replace(replace(replace(replace(
            replace({{ expression }}, '\\', chr(1)),
            '\''', ''''), '\"', '"'), '\n', chr(10)), '\t', chr(9)), '\r', chr(13)),
        chr(1), '\'
    )
{%- endmacro %}
