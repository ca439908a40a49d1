# The reference side of beam/tests/term_corpus.rs.
#
#   elixir --erl "+pc unicode" beam/tests/term_corpus.exs OUTFILE
#
# Builds a few hundred terms and writes to OUTFILE, in the external term format,
#
#   {entries, struct_fields, order_terms, order}
#
# where each entry is {label, term, inspect(term, limit: :infinity, printable_limit: :infinity) (or, for
# a struct whose own inspect raises, Inspect.Any's), io_lib:format("~0tp", [term])}, struct_fields lists the defstruct order of the structs defined
# here (which the term itself does not carry), and order holds {i, j, standard, exact} for every pair
# of order_terms: how term i compares with term j by `<`/`==` and by the order map keys sort in
# (-1, 0 or 1). `+pc unicode` makes ~tp print text in any script as text.

defmodule Corpus.Plain do
  defstruct [:a, :b]
end

defmodule Corpus.Ordered do
  # Not alphabetical: inspect follows this order.
  defstruct [:zeta, :alpha, :mid]
end

defmodule Corpus.Empty do
  defstruct []
end

defmodule Corpus.Defaults do
  defstruct name: "x", tags: [], count: 0
end

defmodule Corpus.Err do
  defexception [:message, :code]
end

defmodule Corpus.Funs do
  def adder(x), do: fn y -> x + y end
  def zero, do: fn -> :ok end
  def unquote(:"weird name")(), do: :ok
end

defmodule Corpus.Gen do
  import Bitwise
  @atoms [:a, :ok, :error, nil, true, false, :"with space", Foo, Foo.Bar, :+, :foo?, :x@y, :Héllo,
          :"Elixir.Elixir", :_, :"1a", :"a\"b", :ünïcödé, :日本]
  @chars ~c"abc xyz\"\\\#{}'\n\t\e\0" ++ [0xE9, 0x65E5, 0x1F600, 0x7F, 0x85, 0xA0]

  def term(0), do: leaf()

  def term(depth) do
    case :rand.uniform(14) do
      1 -> for _ <- 1..:rand.uniform(4), do: term(depth - 1)
      2 -> List.to_tuple(for _ <- 0..:rand.uniform(4), do: term(depth - 1))
      3 -> Map.new(for _ <- 1..:rand.uniform(5), do: {atom(), term(depth - 1)})
      4 -> Map.new(for _ <- 1..:rand.uniform(5), do: {term(0), term(depth - 1)})
      5 -> for _ <- 1..:rand.uniform(3), do: {Enum.random([:a, :b, :c, :"d e", :+, :Foo, :nil]), term(depth - 1)}
      6 -> [term(depth - 1) | leaf()]
      7 -> %Corpus.Plain{a: term(depth - 1), b: term(depth - 1)}
      8 -> MapSet.new(for _ <- 1..:rand.uniform(4), do: term(depth - 1))
      9 -> {:ok, term(depth - 1)}
      _ -> leaf()
    end
  end

  def leaf do
    case :rand.uniform(14) do
      1 -> :rand.uniform(1000) - 500
      2 -> (:rand.uniform(2) * 2 - 3) * :rand.uniform(1 <<< 100)
      3 -> float()
      4 -> float()
      5 -> atom()
      6 -> string()
      7 -> string()
      8 -> for _ <- 1..:rand.uniform(6), into: "", do: <<:rand.uniform(256) - 1>>
      9 -> Enum.map(1..:rand.uniform(6), fn _ -> Enum.random(~c"abc '\"\n\\\#{") end)
      10 -> Enum.map(1..:rand.uniform(4), fn _ -> :rand.uniform(300) end)
      11 -> <<:rand.uniform(255), :rand.uniform(7)::size(3)>>
      12 -> []
      13 -> {}
      _ -> %{}
    end
  end

  def atom, do: Enum.random(@atoms)

  def string do
    for _ <- 1..:rand.uniform(8), into: "", do: <<Enum.random(@chars)::utf8>>
  end

  # Floats of every magnitude, plus raw bit patterns (skipping NaN and infinities, which the BEAM lacks).
  def float do
    case :rand.uniform(3) do
      1 ->
        (:rand.uniform() - 0.5) * :math.pow(10, :rand.uniform(60) - 30)

      2 ->
        :rand.uniform(100_000) / Enum.random([1, 10, 100, 1000, 8, 3])

      3 ->
        case <<:rand.uniform(1 <<< 64) - 1::64>> do
          <<f::float>> -> f
          _ -> 0.5
        end
    end
  end
end

# Struct literals must be compiled after their modules exist, hence a module rather than top-level code.
defmodule Corpus.Main do
  def run(out) do
    {:ok, port} = :gen_udp.open(0)
    spawned = spawn(fn -> :ok end)
    monitor_ref = Process.monitor(spawned)
    alias_ref = :erlang.alias()
    anon = fn x -> x end
    closure = Corpus.Funs.adder(1)
    big_keys = Map.new(1..32, fn i -> {i, i * i} end)

    fixed = [
      # Atoms
      {"atom ok", :ok},
      {"atom nil", nil},
      {"atom true", true},
      {"atom false", false},
      {"alias", Foo.Bar},
      {"alias one", String},
      {"atom Elixir", :Elixir},
      {"atom Elixir.Elixir", :"Elixir.Elixir"},
      {"atom Elixir.Elixir.Foo", :"Elixir.Elixir.Foo"},
      {"atom Elixir.foo", :"Elixir.foo"},
      {"atom Elixir.Foo.bar", :"Elixir.Foo.bar"},
      {"atom Elixir.", :"Elixir."},
      {"atom Foo", :Foo},
      {"atom Foo_1", :Foo_1},
      {"atom with space", :"with space"},
      {"atom empty", :""},
      {"atom underscore", :_},
      {"atom digits", :"1a"},
      {"atom quote", :"a\"b"},
      {"atom backslash", :"a\\b"},
      {"atom newline", :"new\nline"},
      {"atom interpolation", :"\#{x}"},
      {"atom question", :foo?},
      {"atom bang", :foo!},
      {"atom question mid", :"foo?x"},
      {"atom bang question", :"foo!?"},
      {"atom at", :foo@bar},
      {"atom at end", :foo@},
      {"atom at start", :"@foo"},
      {"atom dash", :"foo-bar"},
      {"atom dot", :"a.b"},
      {"atom lists", :lists},
      {"atom erlang", :erlang},
      {"atom accented", :héllo},
      {"atom japanese", :日本語},
      {"atom upper accented", :Ólá},
      {"atom mixed script", :"aб"},
      {"atom cyrillic", :привет},
      {"atom greek", :αβγ},
      {"atom han hiragana", :漢字かな},
      {"atom latin han", :abc漢字},
      {"atom micro", :"µ"},
      {"atom decomposed", :"e\u0301"},
      {"atom nul", :"\0"},
      {"atom c1", :"\u0085"},
      {"atom emoji", :"😀"},
      {"atom upper only", :"É"},
      {"atom superscript", :"a²"},
      {"atom underscore upper", :_Foo},
      {"atom nil in name", :nil?},
      {"atom do", :do},
      {"atom __struct__", :__struct__},
      {"atom dunder module", :__MODULE__},
      {"atom after", :after},
      {"atom begin", :begin},
      {"atom maybe", :maybe},
      {"atom else", :else},
      {"atom cond", :cond},
      {"atom fun", :fun},
      {"atom Latin1 upper start", :"Éa"},
      {"atom latin1 lower", :"ça"},
      {"atom times", :"a×b"},
      {"atom divide", :"a÷b"},
      {"atom sharp s", :"ßa"},
    ] ++
      for op <- [:+, :-, :*, :/, :++, :--, :<>, :"::", :"//", :"^^^", :"~~~", :"<|>", :&, :!, :^, :not, :@,
                 :when, :in, :and, :or, :"not in", :\\, :<-, :|, :=, :||, :|||, :&&, :&&&, :==, :!=, :===,
                 :!==, :=~, :<, :>, :<=, :>=, :|>, :<<<, :>>>, :<~, :~>, :<<~, :~>>, :<~>, :**, :+++, :---,
                 :., :.., :..., :"..//", :%, :%{}, :{}, :<<>>, :->, :"=:=", :"=/=", :"=<", :"/=", :"=>", :";"] do
        {"operator #{Atom.to_string(op)}", op}
      end ++
      [
        # Integers
        {"int 0", 0},
        {"int -1", -1},
        {"int i32 max", 2_147_483_647},
        {"int i32 min", -2_147_483_648},
        {"int 2^31", 2_147_483_648},
        {"int 2^64", 18_446_744_073_709_551_616},
        {"int -2^64", -18_446_744_073_709_551_616},
        {"int 2^1000", 2 ** 1000},
        {"int -(2^100)", -(2 ** 100)},
        {"int 255", 255},
        {"int 256", 256},
        # Floats
        {"float 0.1", 0.1},
        {"float 1.0", 1.0},
        {"float 1.0e100", 1.0e100},
        {"float -0.0", -0.0},
        {"float 0.0", 0.0},
        {"float 123456789.0", 123_456_789.0},
        {"float 1.0e-10", 1.0e-10},
        {"float 1.0e15", 1.0e15},
        {"float 1.0e16", 1.0e16},
        {"float 9007199254740993.0", 9_007_199_254_740_993.0},
        {"float 1.0e-5", 1.0e-5},
        {"float 0.0001", 0.0001},
        {"float 5.0e-324", 5.0e-324},
        {"float max", 1.7976931348623157e308},
        {"float -1.5", -1.5},
        {"float pi", 3.141592653589793},
        {"float 100.0", 100.0},
        {"float 1000.0", 1000.0},
        {"float 1.0e21", 1.0e21},
        {"float 0.1+0.2", 0.1 + 0.2},
        {"float 1.5e-7", 1.5e-7},
        {"float 123450.0", 123_450.0},
        {"float 1.0e20", 1.0e20},
        {"float -1.0e16", -1.0e16},
        {"float 2^53", 9_007_199_254_740_992.0},
        {"float 4.5e15", 4.5e15},
        {"float 1.2345678e10", 1.2345678e10},
        # Binaries and strings
        {"string empty", ""},
        {"string abc", "abc"},
        {"string newline", "a\nb"},
        {"string quote", "\""},
        {"string single quote", "it's"},
        {"string interpolation", "\#{x}"},
        {"string hash", "#"},
        {"string hash brace end", "a#"},
        {"string escapes", "\a\b\d\e\f\r\t\v"},
        {"string backslash", "\\"},
        {"string nul", "\x00"},
        {"string nul inside", "a\x00b"},
        {"binary 0xff", <<0xFF>>},
        {"binary invalid utf8", <<0xC3, 0x28>>},
        {"binary latin1 é", <<0xE9>>},
        {"binary latin1 text", <<"caf", 0xE9>>},
        {"binary 1 2 3", <<1, 2, 3>>},
        {"string é", "é"},
        {"string japanese", "日本語"},
        {"string nbsp", "\u00A0"},
        {"string c1", "\u0085"},
        {"string bom", "\uFEFF"},
        {"string fffe", "\uFFFE"},
        {"string emoji", "😀"},
        {"string long", String.duplicate("abc", 200)},
        {"string mixed", "tab\there \"q\" \#{i} é ü 日本 😀 \\ end"},
        {"string del only", "\d"},
        {"string bell", "\a"},
        {"string tab cr", "\t\r"},
        {"string unicode line sep", "\u2028"},
        {"string private use", "\uE000"},
        {"string sup plane", "\u{10FFFF}"},
        # Bitstrings
        {"bits 1::1", <<1::1>>},
        {"bits 1, 2::3", <<1, 2::3>>},
        {"bits 255, 1::7", <<255, 1::7>>},
        {"bits text then bits", <<"ab", 3::2>>},
        {"bits 0::5", <<0::5>>},
        # Charlists and lists
        {"list empty", []},
        {"charlist abc", ~c"abc"},
        {"charlist newline", ~c"a\nb"},
        {"charlist quote", ~c"it's"},
        {"charlist double quote", ~c"say \"hi\""},
        {"charlist esc", ~c"\e"},
        {"charlist controls", [7, 8, 9, 10, 11, 12, 13, 27]},
        {"charlist interpolation", ~c"\#{x}"},
        {"charlist backslash", ~c"\\"},
        {"list [0]", [0]},
        {"list [127]", [127]},
        {"list latin1", ~c"héllo"},
        {"list unicode", ~c"日本"},
        {"list [955]", [955]},
        {"list 1 2", [1, 2]},
        {"list nested empty", [[]]},
        {"improper 1 | 2", [1 | 2]},
        {"improper ?a | ?b", [?a | ?b]},
        {"improper 1 2 | 3", [1, 2 | 3]},
        {"improper tail string", [1 | "abc"]},
        {"improper tail atom", [:a | :b]},
        {"improper kw | tail", [{:a, 1} | :tail]},
        {"keyword", [a: 1, b: 2]},
        {"keyword quoted", ["a b": 1]},
        {"keyword alias key", [{Foo, 1}]},
        {"keyword mixed", [{:a, 1}, 2]},
        {"keyword nested", [nested: [kw: 1]]},
        {"keyword op", [{:+, 1}]},
        {"keyword nil", [{nil, 1}]},
        {"keyword true", [{true, 1}]},
        {"keyword quote key", [{:"with\"q", 1}]},
        {"keyword Foo key", [{:Foo, 1}]},
        {"keyword digit key", [{:"1a", 2}]},
        {"keyword Elixir key", [{:Elixir, 2}]},
        {"keyword at key", [{:foo@bar, 2}]},
        {"keyword dots key", [{:..., 2}, {:"::", 3}]},
        {"keyword unicode key", [{:héllo, 1}, {:"aб", 2}]},
        {"keyword do", [do: :ok, else: :error]},
        {"three tuple list", [{:a, 1, 2}]},
        {"list of charlists", [~c"ab", ~c"cd"]},
        {"list mixed", [1, :a, "b", ~c"c", {:d}, %{e: 1}, 1.5]},
        {"list long", Enum.to_list(1..150)},
        # Tuples
        {"tuple empty", {}},
        {"tuple one", {1}},
        {"tuple two", {1, 2}},
        {"tuple ok", {:ok, "x"}},
        {"tuple nested", {{1, {2, {3}}}, [{}]}},
        {"tuple error", {:error, :enoent}},
        # Maps
        {"map empty", %{}},
        {"map atom keys", %{a: 1, b: 2}},
        {"map mixed keys", %{"b" => 2, a: 1}},
        {"map int float keys", %{1 => :int, 1.0 => :float, 2 => :two, 0.5 => :half}},
        {"map alias key", %{Foo => 1}},
        {"map alias and atom keys", %{Foo => 1, bar: 2}},
        {"map nil key", %{nil => 1}},
        {"map quoted keys", %{"a b": 1, c: 2}},
        {"map container keys", %{[1] => 2, {1} => 3, <<1>> => 4, "a" => 5, ~c"a" => 6, [] => 7, {} => 8, %{} => 9}},
        {"map map key", %{%{a: 1} => 2, %{b: 1} => 3, %{a: 0, b: 0} => 4}},
        {"map identifier keys", %{self() => 1, make_ref() => 2, &Enum.map/2 => 3, port => 4}},
        {"map big int keys", %{(2 ** 70) => 1, -(2 ** 70) => 2, 1.0e30 => 3, 0 => 4}},
        {"map 32 keys", big_keys},
        {"map nested", %{a: %{b: %{c: [1, 2, %{d: "e"}]}}}},
        {"map struct key atom", %{__struct__: :foo, a: 1}},
        {"map struct key string", %{"__struct__" => Foo}},
        {"map struct missing field", %{__struct__: Corpus.Plain, a: 1}},
        {"map struct extra field", %{__struct__: Corpus.Plain, a: 1, b: 2, c: 3}},
        {"map bits keys", %{<<1::4>> => 1, <<1>> => 2, <<2::3>> => 3, <<0, 1>> => 4}},
        {"map tuple keys with numbers", %{{2} => :a, {1.0} => :b, {1} => :c}},
        {"map list keys with numbers", %{[2] => :a, [1.0] => :b, [1] => :c, [1 | 2] => :d}},
        {"map atom key order", %{b: 1, a: 2, B: 3, _: 4, é: 5, Z: 6}},
        # Structs
        {"struct plain empty", %Corpus.Plain{}},
        {"struct plain", %Corpus.Plain{a: 1, b: [1, 2]}},
        {"struct ordered", %Corpus.Ordered{zeta: 1, alpha: 2, mid: 3}},
        {"struct empty", %Corpus.Empty{}},
        {"struct defaults", %Corpus.Defaults{}},
        {"struct exception", %Corpus.Err{message: "boom", code: 42}},
        {"struct nested", %Corpus.Plain{a: %Corpus.Plain{a: %Corpus.Empty{}}, b: %{c: %Corpus.Defaults{}}}},
        {"struct runtime error", %RuntimeError{message: "boom"}},
        {"struct key error", %KeyError{key: :a, term: %{}}},
        {"struct argument error", ArgumentError.exception("bad")},
        {"struct uri", URI.parse("https://user@example.com:8080/path?q=1#frag")},
        {"struct version", Version.parse!("1.2.3-rc.1+build")},
        {"struct version req", Version.parse_requirement!("~> 1.0 and >= 1.0.5")},
        {"struct file stat", File.stat!(__ENV__.file)},
        {"range", 1..10},
        {"range down", 10..1//-1},
        {"range step", 1..10//2},
        {"range negative", -5..-1},
        {"range single", 0..0},
        {"range empty", 5..1//1},
        {"range big", 1..(2 ** 70)},
        # Ranges made before Elixir 1.12 (no step), as a node of then would send them.
        {"range legacy up", %{__struct__: Range, first: 1, last: 3}},
        {"range legacy down", %{__struct__: Range, first: 3, last: 1}},
        {"mapset", MapSet.new([1, 2, 3])},
        {"mapset charlists", MapSet.new([~c"abc", "x", [a: 1]])},
        {"mapset empty", MapSet.new()},
        {"mapset nested", %{set: MapSet.new([MapSet.new([:a])])}},
        {"mapset kw", MapSet.new([{:a, 1}])},
        {"date", ~D[2024-01-02]},
        {"date negative year", Date.new!(-99, 1, 31)},
        {"date year 10000", %Date{year: 10000, month: 12, day: 31}},
        {"time", ~T[01:02:03]},
        {"time ms", ~T[01:02:03.004]},
        {"time us", ~T[23:59:59.000004]},
        {"naive", ~N[2024-01-02 03:04:05]},
        {"naive us", ~N[2024-01-02 03:04:05.123456]},
        {"datetime utc", ~U[2024-01-02 03:04:05Z]},
        {"datetime utc ms", ~U[2024-01-02 03:04:05.120Z]},
        {"datetime paris",
         %DateTime{year: 2024, month: 1, day: 2, hour: 3, minute: 4, second: 5, microsecond: {0, 0},
                   time_zone: "Europe/Paris", zone_abbr: "CET", utc_offset: 3600, std_offset: 0,
                   calendar: Calendar.ISO}},
        {"datetime la dst",
         %DateTime{year: 2015, month: 7, day: 28, hour: 1, minute: 2, second: 3, microsecond: {4, 5},
                   time_zone: "America/Los_Angeles", zone_abbr: "PDT", utc_offset: -28800, std_offset: 3600,
                   calendar: Calendar.ISO}},
        {"datetime kathmandu",
         %DateTime{year: 2024, month: 1, day: 2, hour: 3, minute: 4, second: 5, microsecond: {0, 0},
                   time_zone: "Asia/Kathmandu", zone_abbr: "+0545", utc_offset: 20700, std_offset: 0,
                   calendar: Calendar.ISO}},
        {"date range", Date.range(~D[2024-01-01], ~D[2024-01-10])},
        {"date range step", Date.range(~D[2024-01-01], ~D[2024-01-10], 2)},
        {"date range down", Date.range(~D[2024-01-10], ~D[2024-01-01], -1)},
        {"regex", ~r/foo/i},
        {"regex slash", ~r{a/b}},
        {"regex escaped slash", ~r/a\/b/},
        {"regex backslashes", ~r/\d+\s\\x/},
        {"regex interpolation text", ~r/a\#{b}c/},
        {"regex newline", Regex.compile!("a\nb\tc")},
        {"regex opts", ~r/x/msu},
        {"regex list opts", Regex.compile!("a+b", [:caseless])},
        {"regex control chars", Regex.compile!("a\a\f\r\v\x01")},
        # Structs whose fields their inspect cannot print (made by hand, or by another version): the
        # generic %Struct{} layout.
        {"datetime invalid hour",
         %DateTime{year: 2024, month: 1, day: 2, hour: 25, minute: 4, second: 5, microsecond: {0, 0},
                   time_zone: "Etc/UTC", zone_abbr: "UTC", utc_offset: 0, std_offset: 0, calendar: Calendar.ISO}},
        {"time invalid precision", %Time{hour: 1, minute: 2, second: 3, microsecond: {0, 9}}},
        {"time no tuple", %{__struct__: Time, hour: 1, minute: 2, second: 3, microsecond: 0, calendar: Calendar.ISO}},
        {"mapset not a map", %{__struct__: MapSet, map: :x, version: 2}},
        {"stream improper funs", %{__struct__: Stream, enum: [1], funs: [:a | :b], accs: [], done: nil}},
        {"regex latin1 source", %{__struct__: Regex, re_pattern: :x, source: <<255>>, opts: "", re_version: ""}},
        {"date range not dates", %{__struct__: Date.Range, first: 1, last: 2, first_in_iso_days: 1,
                                   last_in_iso_days: 2, step: 1}},
        {"stream", Stream.map([1, 2, 3], & &1)},
        {"stream chained", [1, 2] |> Stream.map(& &1) |> Stream.filter(& &1)},
        # Identifiers
        {"pid self", self()},
        {"pid spawned", spawned},
        {"ref", make_ref()},
        {"ref monitor", monitor_ref},
        {"ref alias", alias_ref},
        {"port", port},
        {"fun external", &Enum.map/2},
        {"fun erlang", &:lists.map/2},
        {"fun operator", &Kernel.+/2},
        {"fun erlang operator", &:erlang."=:="/2},
        {"fun weird name", &Corpus.Funs."weird name"/0},
        {"fun nested module", &String.Chars.to_string/1},
        {"fun quoted module", Function.capture(:"Elixir.foo", :bar, 0)},
        {"fun anonymous", anon},
        {"fun closure", closure},
        {"fun zero", Corpus.Funs.zero()},
        {"tuple of identifiers", {self(), port, make_ref(), anon}},
        {"list of funs", [&Enum.map/2, anon, closure]}
      ]

    :rand.seed(:exsss, {101, 202, 303})
    random = for i <- 1..250, do: {"random #{i}", Corpus.Gen.term(:rand.uniform(4))}

    inspect_opts = [limit: :infinity, printable_limit: :infinity]

    # A struct whose own inspect raises on its fields (one made by hand or by another version) is shown
    # field by field, as Inspect.Any shows it, not as `#Inspect.Error<…>`.
    reference = fn term ->
      case inspect(term, inspect_opts) do
        "#Inspect.Error<" <> _ ->
          Inspect.Any.inspect(term, Inspect.Opts.new(inspect_opts))
          |> Inspect.Algebra.format(:infinity)
          |> IO.iodata_to_binary()

        text ->
          text
      end
    end

    entries =
      for {label, term} <- fixed ++ random do
        erl = :io_lib.format(~c"~0tp", [term]) |> :unicode.characters_to_binary()
        {label, term, reference.(term), erl}
      end

    struct_fields =
      for mod <- [Corpus.Plain, Corpus.Ordered, Corpus.Empty, Corpus.Defaults, Corpus.Err] do
        {Atom.to_string(mod), Enum.map(mod.__info__(:struct), &Atom.to_string(&1.field))}
      end

    # Pids of other nodes, as the distribution would deliver them (NEW_PID_EXT: node, id, serial, creation).
    remote_pid = fn node, id, serial, creation ->
      :erlang.binary_to_term(<<131, 88, 119, byte_size(node), node::binary, id::32, serial::32, creation::32>>)
    end

    remote_pids = [
      remote_pid.("a@host", 5, 0, 1),
      remote_pid.("b@host", 1, 0, 1),
      remote_pid.("b@host", 2, 0, 1),
      remote_pid.("b@host", 1, 1, 1),
      remote_pid.("b@host", 1, 0, 2)
    ]

    # Ports (NEW_PORT_EXT) and references (NEWER_REFERENCE_EXT, words least significant first) likewise.
    remote_port = fn node, id, creation ->
      :erlang.binary_to_term(<<131, 89, 119, byte_size(node), node::binary, id::32, creation::32>>)
    end

    remote_ref = fn node, words, creation ->
      ids = for w <- words, into: <<>>, do: <<w::32>>
      :erlang.binary_to_term(<<131, 90, length(words)::16, 119, byte_size(node), node::binary, creation::32, ids::binary>>)
    end

    remote_identifiers = [
      remote_port.("a@host", 5, 1),
      remote_port.("b@host", 1, 1),
      remote_port.("b@host", 1, 2),
      remote_ref.("a@host", [5, 0, 0], 1),
      remote_ref.("b@host", [1, 0, 0], 1),
      remote_ref.("b@host", [0, 0, 1], 1),
      remote_ref.("b@host", [1, 0, 0], 2),
      remote_ref.("b@host", [1, 0, 0, 0, 0], 1)
    ]

    # Term order: every pair of these, compared by `<`/`==` and by the exact order maps sort keys by.
    order_terms = remote_pids ++ remote_identifiers ++ [
      -(2 ** 70), -1, 0, 1, 2, 2 ** 70, -1.0e30, -1.5, -0.0, 0.5, 1.0, 2.0, 1.0e30,
      :"", :Z, :a, :b, :é, :"Elixir.Foo",
      make_ref(), make_ref(), alias_ref, monitor_ref,
      anon, closure, Corpus.Funs.adder(2), Corpus.Funs.zero(), &Enum.map/2, &Enum.filter/2, &:lists.map/2,
      port, self(), spawned,
      {}, {1}, {1.0}, {2}, {1, 2}, {:a, [1]},
      %{}, %{a: 1}, %{a: 2}, %{b: 0}, %{1 => 1}, %{1.0 => 1}, %{2 => 0}, %{a: 1, b: 1},
      [], [1], [1.0], [2], [1 | 2], [1, 2], ~c"abc", [97, 98], [[1]], [:a],
      "", <<1>>, <<1::4>>, <<2::3>>, "abc", "abd", <<0, 1>>
    ]

    sign = fn n -> cond do n < 0 -> -1; n > 0 -> 1; true -> 0 end end

    order =
      for {a, i} <- Enum.with_index(order_terms), {b, j} <- Enum.with_index(order_terms) do
        standard = cond do a < b -> -1; a == b -> 0; true -> 1 end
        {i, j, standard, sign.(:erts_internal.cmp_term(a, b))}
      end

    # minor_version 2 writes every atom as UTF-8, as the distribution does; eetf cannot read Latin-1 atoms.
    File.write!(out, :erlang.term_to_binary({entries, struct_fields, order_terms, order}, minor_version: 2))
  end
end

[out] = System.argv()
Corpus.Main.run(out)
