@testable import Jinja

/// Conversations that exercise chat templates: system prompts or not, multi-turn, empty and
/// whitespace-only content, Unicode and emoji, quotes and backslashes, text that looks like
/// template syntax, multimodal content parts, tool calls (dict and JSON-string arguments,
/// parallel calls), tool results, and reasoning traces.
enum Conversations {
    static let weatherTool: Value = [
        "type": "function",
        "function": [
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": [
                "type": "object",
                "properties": [
                    "location": ["type": "string", "description": "The city and state, e.g. San Francisco, CA"],
                    "unit": ["type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit",
                             "default": "celsius"],
                    "days": ["type": "integer", "description": "Forecast length", "default": 1],
                    "precision": ["type": "number", "description": "Decimal places — “rounded”", "default": 0.5],
                ],
                "required": ["location"],
            ],
        ],
    ]

    static let searchTool: Value = [
        "type": "function",
        "function": [
            "name": "web_search",
            "description": "Search the web. Returns the top results as JSON.",
            "parameters": [
                "type": "object",
                "properties": [
                    "query": ["type": "string", "description": "What to search for"],
                    "filters": [
                        "type": "array",
                        "items": ["type": "string"],
                        "description": "Optional filters",
                    ],
                    "safe": ["type": "boolean", "description": "Safe search", "default": true],
                    "nullable_note": ["type": ["string", "null"], "description": "Anything"],
                ],
                "required": ["query", "safe"],
            ],
        ],
    ]

    static let tools: [Value] = [weatherTool, searchTool]

    static func toolCall(_ name: String, _ arguments: Value, id: String = "call12345") -> Value {
        ["id": .string(id), "type": "function", "function": ["name": .string(name), "arguments": arguments]]
    }

    static let all: [(name: String, messages: [Value])] = [
        ("single user turn", [
            ["role": "user", "content": "Hello!"],
        ]),
        ("system and user", [
            ["role": "system", "content": "You are a helpful assistant."],
            ["role": "user", "content": "What is 2+2?"],
        ]),
        ("multi-turn with system", [
            ["role": "system", "content": "You are terse."],
            ["role": "user", "content": "Name a colour."],
            ["role": "assistant", "content": "Blue."],
            ["role": "user", "content": "Another?"],
            ["role": "assistant", "content": "Red."],
            ["role": "user", "content": "Thanks."],
        ]),
        ("multi-turn without system", [
            ["role": "user", "content": "Hi"],
            ["role": "assistant", "content": "Hello! How can I help?"],
            ["role": "user", "content": "Tell me a joke."],
        ]),
        ("ends with assistant", [
            ["role": "user", "content": "Complete: the quick brown"],
            ["role": "assistant", "content": "fox jumps over the lazy dog."],
        ]),
        ("empty contents", [
            ["role": "system", "content": ""],
            ["role": "user", "content": ""],
            ["role": "assistant", "content": ""],
            ["role": "user", "content": "x"],
        ]),
        ("unicode and emoji", [
            ["role": "user", "content": "Привет 👋🏽 你好 — “quotes” é and e\u{301} zero\u{200B}width"],
            ["role": "assistant", "content": "🙂\tTabbed\nNew line ½ ∑ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"],
            ["role": "user", "content": "مرحبا بالعالم 👨‍👩‍👧"],
        ]),
        ("quotes, backslashes and template-looking text", [
            ["role": "system", "content": "Use \"double\" and 'single' quotes; paths like C:\\Users\\me\\n are literal."],
            ["role": "user", "content": "What does {{ messages }} or {% if x %} or {# c #} mean? Also \\u00e9 and \\n."],
            ["role": "assistant", "content": "They are Jinja tags: {{ }} prints, {% %} runs statements. <|im_end|> </s>"],
            ["role": "user", "content": "JSON: {\"a\": [1, 2.5, null, true], \"b\": \"\\\"\"}"],
        ]),
        ("leading and trailing whitespace", [
            ["role": "system", "content": "  padded system  \n"],
            ["role": "user", "content": "\n\n  spaced question?  \t\n"],
            ["role": "assistant", "content": "   \n answer with leading newline\n\n"],
            ["role": "user", "content": "   "],
        ]),
        ("long alternating", (0..<10).map { i in
            ["role": i % 2 == 0 ? "user" : "assistant", "content": .string("turn \(i): " + String(repeating: "word ", count: i))]
        }),
        ("tool call and result", [
            ["role": "system", "content": "You can call tools."],
            ["role": "user", "content": "What's the weather in Paris?"],
            ["role": "assistant", "content": "", "tool_calls": [toolCall("get_current_weather", ["location": "Paris, France", "unit": "celsius"])]],
            ["role": "tool", "tool_call_id": "call12345", "name": "get_current_weather", "content": "{\"temperature\": 21.5, \"condition\": \"sunny\"}"],
            ["role": "assistant", "content": "It is 21.5 °C and sunny in Paris."],
        ]),
        ("parallel tool calls without system", [
            ["role": "user", "content": "Weather in Oslo and news about Oslo?"],
            ["role": "assistant", "content": "Let me check both.", "tool_calls": [
                toolCall("get_current_weather", ["location": "Oslo", "days": 3, "precision": 0.25], id: "call00001"),
                toolCall("web_search", ["query": "Oslo news", "filters": ["today", "local"], "safe": true], id: "call00002"),
            ]],
            ["role": "tool", "tool_call_id": "call00001", "name": "get_current_weather", "content": "-3 °C, snow"],
            ["role": "tool", "tool_call_id": "call00002", "name": "web_search", "content": "[{\"title\": \"Oslo “today”\"}]"],
            ["role": "user", "content": "Summarise."],
        ]),
        ("tool call with string arguments and null content", [
            ["role": "user", "content": "Search for swift jinja"],
            ["role": "assistant", "content": nil, "tool_calls": [toolCall("web_search", "{\"query\": \"swift jinja\", \"safe\": false}")]],
            ["role": "tool", "tool_call_id": "call12345", "content": "no results"],
        ]),
        ("reasoning in content", [
            ["role": "user", "content": "Is 17 prime?"],
            ["role": "assistant", "content": "<think>\nCheck divisors up to 4.\n</think>\n\nYes, 17 is prime."],
            ["role": "user", "content": "And 21?"],
        ]),
        ("content as a list of parts", [
            ["role": "system", "content": [["type": "text", "text": "You describe images."]]],
            ["role": "user", "content": [["type": "image"], ["type": "text", "text": "What is in this picture?"]]],
            ["role": "assistant", "content": [["type": "text", "text": "A cat."]]],
            ["role": "user", "content": "Thanks"],
        ]),
        ("reasoning_content field", [
            ["role": "system", "content": "Think step by step."],
            ["role": "user", "content": "2*3?"],
            ["role": "assistant", "content": "6", "reasoning_content": "Multiply: 2*3 = 6."],
            ["role": "user", "content": "3*4?"],
        ]),
    ]
}
