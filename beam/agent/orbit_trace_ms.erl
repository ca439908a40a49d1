%% Match specs as people write them, for orbit_trace: a fun in dbg:fun2ms/1 style, a match spec written
%% as an Erlang term, and the Elixir compiler: a call with a match condition written in Elixir
%% ("Bank.Account.deposit(_, amount) when amount > 100") turned into the match spec that traces only the
%% calls it matches. The compiler says what a match spec cannot express (function calls other than
%% guards, binary patterns, pins, ...) rather than tracing more or less than was asked.
%%
%% Pure: nothing here traces or keeps state. Installed from source: no macros, no includes.
-module(orbit_trace_ms).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([fun_to_ms/1, parse_ms/1, elixir_ms/1]).

%% A match spec from a fun in dbg:fun2ms/1 style, e.g. "fun([_, A]) when A > 100 -> return_trace() end".
fun_to_ms(Text) ->
    case parse_exprs(Text) of
        {ok, [{'fun', _, {clauses, Clauses}}]} ->
            case ms_transform:transform_from_shell(dbg, Clauses, []) of
                {error, [{_, [{_, _, Code} | _]} | _], _} ->
                    {error, iolist_to_binary(ms_transform:format_error(Code))};
                {error, _} = E ->
                    E;
                MS ->
                    {ok, MS}
            end;
        {ok, _} ->
            {error, <<"expected one fun, e.g. fun([_, Amount]) when Amount > 100 -> true end">>};
        Error ->
            Error
    end.

%% A match spec written as an Erlang term, e.g. "[{['_', '$1'], [{'>', '$1', 100}], []}]".
parse_ms(Text) ->
    case scan(Text) of
        {ok, Tokens} ->
            case erl_parse:parse_term(Tokens) of
                {ok, Term} -> {ok, Term};
                {error, {_, Mod, Desc}} -> {error, iolist_to_binary(Mod:format_error(Desc))}
            end;
        Error ->
            Error
    end.

%% A call with a match condition written in Elixir, e.g. "Bank.Account.deposit(_, amount) when amount >
%% 100": {ok, Arity, MatchSpec} with the arguments as the head and the guard as its guards, or {error,
%% Message} for what does not parse or what a match spec cannot express (function calls other than
%% guards, binary patterns, pins, ...). Parsed by Elixir on this node.
elixir_ms(Text) ->
    case code:ensure_loaded('Elixir.Code') of
        {module, _} ->
            case 'Elixir.Code':string_to_quoted(Text) of
                {ok, Quoted} ->
                    try ex_call(Quoted) of
                        {Head, Guards} -> {ok, length(Head), [{Head, Guards, []}]}
                    catch
                        throw:{ms_error, Msg} -> {error, iolist_to_binary(Msg)}
                    end;
                {error, {_Meta, Msg, Token}} ->
                    {error, iolist_to_binary([ex_text(Msg), ex_text(Token)])}
            end;
        _ ->
            {error, <<"Elixir is not available on this node: write the condition in Erlang with "
                      "--match 'fun([A, B]) when B > 100 -> true end'">>}
    end.

ex_text(B) when is_binary(B) -> B;
ex_text(L) when is_list(L) -> unicode:characters_to_binary(io_lib:format("~ts", [L]));
ex_text({A, B}) -> [ex_text(A), ex_text(B)];
ex_text(T) -> io_lib:format("~tp", [T]).

ex_call({'when', _, [Call, Guard]}) ->
    {Head, Vars} = ex_head(Call),
    {Head, [ex_guard(Guard, Vars)]};
ex_call(Call) ->
    {Head, _} = ex_head(Call),
    {Head, []}.

ex_head({{'.', _, [_Module, _Fun]}, _, Args}) when is_list(Args) ->
    lists:mapfoldl(fun ex_pat/2, #{}, Args);
ex_head(Other) ->
    ms_error(["expected a call such as Bank.Account.deposit(_, amount) when amount > 100, not ",
              ex_show(Other)]).

ms_error(Msg) -> throw({ms_error, Msg}).

ex_show(Q) ->
    try 'Elixir.Macro':to_string(Q) catch _:_ -> io_lib:format("~tp", [Q]) end.

%% Argument patterns: variables (`_` and `_name` match anything; a name used twice means equal values),
%% literals, tuples, lists, maps and structs.
ex_pat({'_', _, Ctx}, Vars) when is_atom(Ctx) -> {'_', Vars};
ex_pat({Name, Meta, Ctx} = Q, Vars) when is_atom(Name), is_list(Meta), is_atom(Ctx) ->
    case atom_to_list(Name) of
        "__" ++ _ -> ms_error([ex_show(Q), " cannot be used in an argument pattern"]);
        "_" ++ _ -> {'_', Vars};
        _ ->
            case maps:find(Name, Vars) of
                {ok, V} -> {V, Vars};
                error ->
                    V = list_to_atom("$" ++ integer_to_list(map_size(Vars) + 1)),
                    {V, Vars#{Name => V}}
            end
    end;
ex_pat({'{}', _, Elems}, Vars) when is_list(Elems) ->
    {Ps, Vars1} = lists:mapfoldl(fun ex_pat/2, Vars, Elems),
    {list_to_tuple(Ps), Vars1};
ex_pat({'%{}', _, Pairs}, Vars) when is_list(Pairs) ->
    ex_map_pat(Pairs, Vars, #{});
ex_pat({'%', _, [Struct, {'%{}', _, Pairs}]} = Q, Vars) ->
    case ex_literal(Struct) of
        {ok, Name} when is_atom(Name) -> ex_map_pat(Pairs, Vars, #{'__struct__' => Name});
        _ -> ms_error([ex_show(Q), ": the struct must be named"])
    end;
ex_pat({'__aliases__', _, _} = Q, Vars) ->
    {ok, A} = ex_literal(Q),
    {ex_atom_pat(A, Q), Vars};
ex_pat({'-', _, [N]}, Vars) when is_number(N) -> {-N, Vars};
ex_pat({'+', _, [N]}, Vars) when is_number(N) -> {N, Vars};
ex_pat({Op, _, _} = Q, _Vars) when Op =:= '='; Op =:= '<>'; Op =:= '<<>>'; Op =:= '^'; Op =:= '@';
                                   Op =:= '..'; Op =:= '::' ->
    ms_error([ex_show(Q), ": ", pattern_why(Op)]);
ex_pat({_, Meta, _} = Q, _Vars) when is_list(Meta) ->
    ms_error([ex_show(Q), " is not a pattern a match spec can express"]);
ex_pat({A, B}, Vars) ->
    {PA, Vars1} = ex_pat(A, Vars),
    {PB, Vars2} = ex_pat(B, Vars1),
    {{PA, PB}, Vars2};
ex_pat(L, Vars) when is_list(L) ->
    ex_list_pat(L, Vars);
ex_pat(A, Vars) when is_atom(A) -> {ex_atom_pat(A, A), Vars};
ex_pat(T, Vars) when is_number(T); is_binary(T) -> {T, Vars}.

pattern_why('=') -> "a match spec cannot bind a pattern to a name as well (`pattern = name`)";
pattern_why('<>') -> "binary prefixes cannot be matched by a match spec";
pattern_why('<<>>') -> "binary patterns cannot be matched by a match spec";
pattern_why('^') -> "there are no outer variables to pin in a trace";
pattern_why('@') -> "module attributes are not known here; write the value";
pattern_why('..') -> "a range is not a pattern; use `when x in a..b`";
pattern_why('::') -> "type specifications are not patterns".

ex_atom_pat(A, Q) ->
    case atom_to_list(A) of
        "_" -> ms_error([ex_show(Q), ": the atom :_ cannot be matched by a match spec"]);
        "$" ++ _ -> ms_error([ex_show(Q), ": atoms starting with $ cannot be matched by a match spec"]);
        _ -> A
    end.

ex_list_pat([], Vars) -> {[], Vars};
ex_list_pat([{'|', _, [H, T]}], Vars) ->
    {PH, Vars1} = ex_pat(H, Vars),
    {PT, Vars2} = ex_pat(T, Vars1),
    {[PH | PT], Vars2};
ex_list_pat([H | T], Vars) ->
    {PH, Vars1} = ex_pat(H, Vars),
    {PT, Vars2} = ex_list_pat(T, Vars1),
    {[PH | PT], Vars2}.

ex_map_pat([], Vars, Acc) -> {Acc, Vars};
ex_map_pat([{K, V} | Rest], Vars, Acc) ->
    Key = case ex_literal(K) of
              {ok, Lit} -> Lit;
              error -> ms_error([ex_show(K), ": map keys in a pattern must be literals"])
          end,
    {PV, Vars1} = ex_pat(V, Vars),
    ex_map_pat(Rest, Vars1, Acc#{Key => PV}).

%% A literal term, or error.
ex_literal({'__aliases__', _, Parts}) when is_list(Parts) ->
    case lists:all(fun is_atom/1, Parts) of
        true -> {ok, list_to_atom(string:join(["Elixir" | [atom_to_list(P) || P <- Parts]], "."))};
        false -> error
    end;
ex_literal({'-', _, [N]}) when is_number(N) -> {ok, -N};
ex_literal({'{}', _, Elems}) when is_list(Elems) ->
    ex_literals(Elems, fun list_to_tuple/1);
ex_literal({_, Meta, _}) when is_list(Meta) -> error;
ex_literal({A, B}) -> ex_literals([A, B], fun list_to_tuple/1);
ex_literal(L) when is_list(L) -> ex_literals(L, fun(X) -> X end);
ex_literal(T) when is_atom(T); is_number(T); is_binary(T) -> {ok, T};
ex_literal(_) -> error.

ex_literals(Qs, Make) ->
    Ls = [ex_literal(Q) || Q <- Qs],
    case lists:all(fun({ok, _}) -> true; (_) -> false end, Ls) of
        true -> {ok, Make([L || {ok, L} <- Ls])};
        false -> error
    end.

%% Guards: comparisons, boolean and arithmetic operators, `in` with a literal list or range, Kernel's
%% guard functions, :erlang's guard BIFs, `map.key` (map_get). Anything else (a call to another function,
%% a variable the arguments do not bind) cannot run in a match spec: said with the expression.
ex_guard({Name, Meta, Ctx} = Q, Vars) when is_atom(Name), is_list(Meta), is_atom(Ctx) ->
    case maps:find(Name, Vars) of
        {ok, V} -> V;
        error -> ms_error(["`", ex_show(Q), "` is not bound by the arguments; a guard can only use them"])
    end;
ex_guard({'when', _, [A, B]}, Vars) ->
    {'orelse', ex_guard(A, Vars), ex_guard(B, Vars)};
ex_guard({'in', _, [X, Set]} = Q, Vars) ->
    ex_in(ex_guard(X, Vars), Set, Q);
ex_guard({'not', _, [{'in', _, [X, Set]} = In]}, Vars) ->
    {'not', ex_in(ex_guard(X, Vars), Set, In)};
ex_guard({{'.', _, [Left, Key]}, Meta, []}, Vars) when is_atom(Key), is_list(Meta) ->
    case proplists:get_bool(no_parens, Meta) of
        true -> {map_get, {const, Key}, ex_guard(Left, Vars)};
        false -> ex_remote(Left, Key, [], Vars)
    end;
ex_guard({{'.', _, [Mod, Fun]}, _, Args}, Vars) when is_atom(Fun), is_list(Args) ->
    ex_remote(Mod, Fun, Args, Vars);
ex_guard({'{}', _, Elems}, Vars) when is_list(Elems) ->
    {list_to_tuple([ex_guard(E, Vars) || E <- Elems])};
ex_guard({'%{}', _, Pairs} = Q, Vars) when is_list(Pairs) ->
    maps:from_list([{case ex_literal(K) of {ok, L} -> L; error -> ms_error([ex_show(Q), ": keys must be literals"]) end,
                     ex_guard(V, Vars)} || {K, V} <- Pairs]);
ex_guard({'__aliases__', _, _} = Q, _Vars) ->
    {ok, A} = ex_literal(Q),
    {const, A};
ex_guard({Op, _, Args} = Q, Vars) when is_atom(Op), is_list(Args) ->
    ex_local(Op, Args, Q, Vars);
ex_guard({A, B}, Vars) ->
    {{ex_guard(A, Vars), ex_guard(B, Vars)}};
ex_guard(L, Vars) when is_list(L) ->
    case ex_literal(L) of
        {ok, Lit} -> {const, Lit};
        error -> [ex_guard(E, Vars) || E <- L]
    end;
ex_guard(N, _Vars) when is_number(N) -> N;
ex_guard(T, _Vars) -> {const, T}.

ex_in(X, Set, Q) ->
    case Set of
        {'..', _, [Lo, Hi]} when is_integer(Lo), is_integer(Hi) ->
            {'andalso', {is_integer, X}, {'andalso', {'>=', X, Lo}, {'=<', X, Hi}}};
        _ ->
            case ex_literal(Set) of
                {ok, []} -> {const, false};
                {ok, [First | Rest]} ->
                    lists:foldl(fun(E, Acc) -> {'orelse', Acc, {'=:=', X, {const, E}}} end,
                                {'=:=', X, {const, First}}, Rest);
                _ -> ms_error(["`", ex_show(Q), "`: `in` takes a literal list or an integer range such as 1..10"])
            end
    end.

ex_local(Op, Args, Q, Vars) ->
    N = length(Args),
    G = fun() -> [ex_guard(A, Vars) || A <- Args] end,
    case {Op, N} of
        {'==', 2} -> list_to_tuple(['==' | G()]);
        {'!=', 2} -> list_to_tuple(['/=' | G()]);
        {'===', 2} -> list_to_tuple(['=:=' | G()]);
        {'!==', 2} -> list_to_tuple(['=/=' | G()]);
        {'<', 2} -> list_to_tuple(['<' | G()]);
        {'>', 2} -> list_to_tuple(['>' | G()]);
        {'<=', 2} -> list_to_tuple(['=<' | G()]);
        {'>=', 2} -> list_to_tuple(['>=' | G()]);
        {'and', 2} -> list_to_tuple(['andalso' | G()]);
        {'or', 2} -> list_to_tuple(['orelse' | G()]);
        {'not', 1} -> list_to_tuple(['not' | G()]);
        {'+', 2} -> list_to_tuple(['+' | G()]);
        {'-', 2} -> list_to_tuple(['-' | G()]);
        {'*', 2} -> list_to_tuple(['*' | G()]);
        {'/', 2} -> list_to_tuple(['/' | G()]);
        {'-', 1} -> list_to_tuple(['-' | G()]);
        {'+', 1} -> hd(G());
        {'&&', 2} -> ms_error(["`", ex_show(Q), "`: && is not allowed in guards, use and"]);
        {'||', 2} -> ms_error(["`", ex_show(Q), "`: || is not allowed in guards, use or"]);
        {'!', 1} -> ms_error(["`", ex_show(Q), "`: ! is not allowed in guards, use not"]);
        {'is_nil', 1} -> {'==', hd(G()), {const, nil}};
        {'elem', 2} ->
            [T, I] = G(),
            {element, case I of _ when is_integer(I) -> I + 1; _ -> {'+', I, 1} end, T};
        {'is_map_key', 2} -> [M, K] = G(), {is_map_key, K, M};
        {'map_get', 2} -> list_to_tuple([map_get | G()]);
        {'is_struct', 1} ->
            [X] = G(),
            {'andalso', {is_map, X}, {'andalso', {is_map_key, {const, '__struct__'}, X},
                                      {is_atom, {map_get, {const, '__struct__'}, X}}}};
        {'is_struct', 2} ->
            [X, Name] = G(),
            {'andalso', {is_map, X}, {'andalso', {is_map_key, {const, '__struct__'}, X},
                                      {'=:=', {map_get, {const, '__struct__'}, X}, Name}}};
        {'&&&', 2} -> list_to_tuple(['band' | G()]);
        {'|||', 2} -> list_to_tuple(['bor' | G()]);
        {'<<<', 2} -> list_to_tuple(['bsl' | G()]);
        {'>>>', 2} -> list_to_tuple(['bsr' | G()]);
        _ ->
            case guard_function(Op, N) of
                true -> list_to_tuple([Op | G()]);
                false ->
                    ms_error(["`", ex_show(Q), "` cannot be part of a match spec: ", atom_to_list(Op), "/",
                              integer_to_list(N), " is not a guard (a match spec can use comparisons, and/or/not, "
                              "arithmetic, in, is_* checks, elem/2, tuple_size/1, map_size/1, map_get/2, "
                              "is_map_key/2, hd/1, tl/1, length/1, abs/1, div/2, rem/2, node/0, self/0, ...)"])
            end
    end.

ex_remote(Mod, Fun, Args, Vars) ->
    N = length(Args),
    Name = case Mod of
               erlang -> erlang;
               {'__aliases__', _, ['Kernel']} -> kernel;
               {'__aliases__', _, ['Bitwise']} -> kernel;
               _ -> other
           end,
    Q = {{'.', [], [Mod, Fun]}, [], Args},
    case Name of
        kernel -> ex_local(Fun, Args, Q, Vars);
        erlang ->
            case guard_function(Fun, N) of
                true -> list_to_tuple([Fun | [ex_guard(A, Vars) || A <- Args]]);
                false -> ms_error(["`", ex_show(Q), "` cannot be part of a match spec: :erlang.", atom_to_list(Fun),
                                   "/", integer_to_list(N), " is not a guard BIF"])
            end;
        other ->
            ms_error(["`", ex_show(Q), "` cannot be part of a match spec: it calls a function, and a match "
                      "spec can only use guards (comparisons, and/or/not, arithmetic, is_* checks, elem/2, "
                      "map_size/1, ...); trace without the condition and filter the output instead"])
    end.

%% The guard BIFs a match spec accepts (erlang:match_spec_test/3 decides).
guard_function(F, N) ->
    Vars = [list_to_atom("$" ++ integer_to_list(I)) || I <- lists:seq(1, N)],
    Args = lists:duplicate(N, 0),
    case catch erlang:match_spec_test(Args, [{Vars, [list_to_tuple([F | Vars])], []}], trace) of
        {ok, _, _, _} -> true;
        _ -> false
    end.

parse_exprs(Text) ->
    case scan(Text) of
        {ok, Tokens} ->
            case erl_parse:parse_exprs(Tokens) of
                {ok, Exprs} -> {ok, Exprs};
                {error, {_, Mod, Desc}} -> {error, iolist_to_binary(Mod:format_error(Desc))}
            end;
        Error ->
            Error
    end.

scan(Text) ->
    String = unicode:characters_to_list(Text),
    case erl_scan:string(String ++ " .") of
        {ok, Tokens, _} -> {ok, Tokens};
        {error, {_, Mod, Desc}, _} -> {error, iolist_to_binary(Mod:format_error(Desc))}
    end.
