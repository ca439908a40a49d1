%% Orbit's tracer on a node: call tracing of function patterns and message tracing of chosen processes,
%% with recon_trace's safety.
%%
%% One tracer process per node at a time, registered as orbit_tracer; it belongs to one Orbit node (its
%% owner). A second session of the same owner replaces the first; another owner is refused. The tracer:
%%   - sets the trace patterns and flags itself, and never traces itself: in a trace session of its own
%%     where the node has them (OTP 27+, the trace module), else in the node's one legacy session
%%     (OTP 25/26: trace patterns are node-global and a process has one tracer, so a node where another
%%     tool traces new processes is refused). See "Where the flags and patterns live" below;
%%   - stops on its own when its limit trips (a count, or more than N events within a window of Ms),
%%     when its mailbox grows past max_queue, when its duration ends, or when its owner goes away;
%%   - on stopping removes every flag it set (processes whose tracer it is) and every pattern (or
%%     destroys its session), then says why to its destination, an Orbit mailbox;
%%   - forwards events in batches (every batch_ms, or batch_max events), each argument and message cut
%%     to a bounded size, with erlang:phash2/1 of every message so Orbit can pair sends and receives.
%% Orbit registers stop/2 as an agent clean-up before starting a tracer, so a trace never outlives
%% Orbit's session. Installed from source: no macros, no includes; the tracer loops through fully
%% qualified calls and wakes every batch_ms, so a newer version takes over soon after a load.
-module(orbit_trace).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([check/1, start/1, stop/2, status/0, fun_to_ms/1, parse_ms/1, elixir_ms/1, tracer_init/2,
         tracer_loop/1, shrink/1]).

%% What start/1 would do, without doing it: {ok, #{calls => [{M, F, A, Count, Near}], procs => [{Spec,
%% Found}]}} or {error, Reason}. Near lists the functions named F (any arity) when Count is 0, or
%% not_loaded. A module that is not loaded but is in the code path (interactive mode loads modules on
%% their first call) counts with the functions of its object file: the tracer loads it.
check(#{owner := Owner, calls := Calls, procs := Procs}) ->
    case free_for(Owner) of
        ok ->
            case bad_match_spec(Calls) of
                ok ->
                    {ok, #{calls => [count_pattern(M, F, A) || {M, F, A, _} <- Calls],
                           procs => [{P, resolve(P) =/= []} || P <- Procs]}};
                Error ->
                    Error
            end;
        Error ->
            Error
    end.

%% Starts the tracer: {ok, #{tracer => Pid, calls => [{M, F, A, Count}], procs => N}} or {error, Reason}.
start(#{id := _, owner := _, dest := _, calls := _, procs := _, limit := _} = Opts) ->
    Ref = make_ref(),
    Pid = proc_lib:spawn(orbit_trace, tracer_init, [{self(), Ref}, Opts]),
    Mon = erlang:monitor(process, Pid),
    receive
        {Ref, Reply} ->
            erlang:demonitor(Mon, [flush]),
            Reply;
        {'DOWN', Mon, process, Pid, Reason} ->
            {error, {tracer_died, Reason}}
    after 15000 ->
        exit(Pid, kill),
        erlang:demonitor(Mon, [flush]),
        {error, start_timeout}
    end.

%% Orbit's clean-up: stops the tracer of session Id if it still runs, then removes what a tracer killed
%% before it could clean up may have left: on OTP 25/26 the session's patterns unless a live tracer uses
%% them; with trace sessions, Orbit's sessions no live tracer holds (a tracer's session normally ends with
%% it), never a pattern or flag of the node's legacy session, where a user's dbg or recon_trace lives.
%% Safe to call any number of times.
stop(Id, Patterns) ->
    Live = case whereis(orbit_tracer) of
               undefined ->
                   none;
               Pid ->
                   case request(Pid, info, 5000) of
                       #{id := Id} ->
                           stop_tracer(Pid, stopped),
                           none;
                       #{patterns := _} = Info ->
                           Info;
                       _ ->
                           unknown
                   end
           end,
    case {has_sessions(), Live} of
        {true, unknown} ->
            %% A live tracer that does not answer: which session is its own is not known.
            ok;
        {true, _} ->
            Kept = case Live of
                       #{session := W} -> W;
                       _ -> none
                   end,
            [t_destroy({session, W}) || W <- own_sessions(), W =/= Kept];
        {false, _} ->
            LivePatterns = case Live of
                               #{patterns := Ps} -> Ps;
                               _ -> []
                           end,
            lists:foreach(fun(MFA) ->
                                  case lists:member(MFA, LivePatterns) of
                                      true -> ok;
                                      false -> catch t_pattern(legacy, MFA, false)
                                  end
                          end, Patterns)
    end,
    ok.

%% The running tracer, if any: #{id, owner, events, patterns} or none.
status() ->
    case whereis(orbit_tracer) of
        undefined -> none;
        Pid -> request(Pid, info, 5000)
    end.

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

%% ---------------------------------------------------------------------------------------------------
%% Checks

free_for(Owner) ->
    case whereis(orbit_tracer) of
        undefined ->
            no_foreign_tracer(undefined);
        Pid ->
            case request(Pid, info, 5000) of
                #{owner := Owner} -> no_foreign_tracer(Pid);
                #{owner := Other} -> {error, {busy, Other}};
                _ -> {error, {busy, unknown}}
            end
    end.

%% Another tool (dbg, recon_trace, …) tracing new processes would clash with Orbit's flags on OTP 25/26,
%% and so would an Orbit profile there (its profiler is then the tracer of every process); in a trace
%% session of Orbit's own (OTP 27+) neither can.
no_foreign_tracer(Ours) ->
    case has_sessions() orelse t_info(legacy, new_processes, tracer) of
        true -> ok;
        {tracer, []} -> ok;
        {tracer, Ours} -> ok;
        {tracer, Other} ->
            case whereis(orbit_profiler) of
                Other -> {error, orbit_profile_running};
                _ -> {error, {other_tracer, Other}}
            end
    end.

bad_match_spec([]) ->
    ok;
bad_match_spec([{M, F, A, MS} | Rest]) ->
    case MS of
        true ->
            bad_match_spec(Rest);
        false ->
            bad_match_spec(Rest);
        _ when is_list(MS) ->
            case catch erlang:match_spec_test([], MS, trace) of
                {ok, _, _, _} -> bad_match_spec(Rest);
                {error, Errors} -> {error, {bad_match_spec, {M, F, A}, ms_errors(Errors)}};
                Other -> {error, {bad_match_spec, {M, F, A}, [iolist_to_binary(io_lib:format("~p", [Other]))]}}
            end;
        _ ->
            {error, {bad_match_spec, {M, F, A}, [<<"a match spec is a list">>]}}
    end.

ms_errors(Errors) ->
    [iolist_to_binary(S) || {_, S} <- Errors].

count_pattern(M, F, A) ->
    Count = count_functions(M, F, A),
    Near = case Count of
               0 when M =/= '_' ->
                   case functions(M) of
                       [] -> not_loaded;
                       Fs -> [{F1, A1} || {F1, A1} <- Fs, F1 =:= F]
                   end;
               _ ->
                   []
           end,
    {M, F, A, Count, Near}.

count_functions('_', F, A) ->
    lists:sum([count_functions(M, F, A) || {M, _} <- code:all_loaded()]);
count_functions(M, F, A) ->
    length([x || {F1, A1} <- functions(M), F =:= '_' orelse F =:= F1, A =:= '_' orelse A =:= A1]).

%% The functions of M: loaded, or as its object file in the code path has them (without loading it).
functions(M) ->
    case erlang:module_loaded(M) of
        true ->
            try erlang:get_module_info(M, functions) catch _:_ -> [] end;
        false ->
            case code:which(M) of
                Path when is_list(Path) ->
                    case beam_lib:chunks(Path, [exports, locals]) of
                        {ok, {_, [{exports, E}, {locals, L}]}} -> E ++ L;
                        _ ->
                            case beam_lib:chunks(Path, [exports]) of
                                {ok, {_, [{exports, E}]}} -> E;
                                _ -> []
                            end
                    end;
                _ ->
                    []
            end
    end.

%% Loads the modules a trace names that are in the code path but not loaded yet.
load_modules(Calls) ->
    [code:ensure_loaded(M) || M <- lists:usort([M || {M, _, _, _} <- Calls]), M =/= '_',
                              not erlang:module_loaded(M)],
    ok.

%% The local pids a process spec stands for.
resolve(all) -> [all];
resolve(new) -> [new];
resolve({name, Name}) ->
    case whereis(Name) of
        undefined -> [];
        Pid -> [Pid]
    end;
resolve({pid, Pid}) when node(Pid) =:= node() ->
    case is_process_alive(Pid) of
        true -> [Pid];
        false -> []
    end;
resolve({pid, _}) -> [].

%% ---------------------------------------------------------------------------------------------------
%% The tracer

tracer_init({Caller, Ref}, Opts) ->
    #{owner := Owner} = Opts,
    case claim(Owner, 2) of
        ok ->
            case no_foreign_tracer(self()) of
                ok ->
                    case new_session() of
                        {error, _} = Error ->
                            unregister(orbit_tracer),
                            Caller ! {Ref, Error};
                        Session ->
                            erlang:monitor_node(Owner, true),
                            State = setup(Opts, Session),
                            #{matched := Matched, nprocs := NProcs} = State,
                            Caller ! {Ref, {ok, #{tracer => self(), calls => Matched, procs => NProcs}}},
                            erlang:send_after(maps:get(batch_ms, State), self(), orbit_trace_flush),
                            orbit_trace:tracer_loop(State)
                    end;
                Error ->
                    unregister(orbit_tracer),
                    Caller ! {Ref, Error}
            end;
        Error ->
            Caller ! {Ref, Error}
    end.

%% Takes the name orbit_tracer, replacing a tracer of the same owner.
claim(_Owner, 0) ->
    {error, {busy, unknown}};
claim(Owner, Tries) ->
    case whereis(orbit_tracer) of
        undefined ->
            try register(orbit_tracer, self()) of
                true -> ok
            catch
                error:badarg -> claim(Owner, Tries - 1)
            end;
        Pid ->
            case request(Pid, info, 5000) of
                #{owner := Owner} ->
                    stop_tracer(Pid, replaced),
                    claim(Owner, Tries - 1);
                #{owner := Other} ->
                    {error, {busy, Other}};
                _ ->
                    claim(Owner, Tries - 1)
            end
    end.

setup(Opts, Session) ->
    Calls = maps:get(calls, Opts, []),
    Procs = maps:get(procs, Opts, []),
    MsgFlags = maps:get(msg_flags, Opts, [send, 'receive']),
    Self = self(),
    load_modules(Calls),
    Matched = [{M, F, A, t_pattern(Session, {M, F, A}, MS)} || {M, F, A, MS} <- Calls],
    case Calls of
        [] -> ok;
        _ -> t_flags(Session, processes, true, [call, timestamp])
    end,
    Targets = lists:usort(lists:append([resolve(P) || P <- Procs])),
    NProcs = lists:sum([trace_target(Session, T, MsgFlags, Self) || T <- Targets]),
    %% Never trace the tracer itself.
    catch t_flags(Session, Self, false, [all]),
    Now = erlang:monotonic_time(millisecond),
    Deadline = case maps:get(duration_ms, Opts, infinity) of
                   infinity -> infinity;
                   Ms -> Now + Ms
               end,
    #{id => maps:get(id, Opts),
      session => Session,
      owner => maps:get(owner, Opts),
      dest => maps:get(dest, Opts),
      limit => maps:get(limit, Opts),
      patterns => [{M, F, A} || {M, F, A, _} <- Calls],
      matched => Matched,
      nprocs => NProcs,
      count => 0,
      dropped => 0,
      win_start => Now,
      win_count => 0,
      batch => [],
      blen => 0,
      names => #{},
      deadline => Deadline,
      batch_ms => maps:get(batch_ms, Opts, 100),
      batch_max => maps:get(batch_max, Opts, 500),
      max_queue => maps:get(max_queue, Opts, 50000)}.

trace_target(Session, all, Flags, _Self) ->
    t_flags(Session, processes, true, Flags ++ [timestamp]);
trace_target(Session, new, Flags, _Self) ->
    t_flags(Session, new_processes, true, Flags ++ [timestamp]),
    0;
trace_target(Session, Pid, Flags, Self) ->
    case t_info(Session, Pid, tracer) of
        {tracer, T} when T =:= [] orelse T =:= Self ->
            try t_flags(Session, Pid, true, Flags ++ [timestamp]) catch error:badarg -> 0 end;
        _ ->
            0
    end.

tracer_loop(State) ->
    receive
        Msg when is_tuple(Msg), tuple_size(Msg) >= 5, element(1, Msg) =:= trace_ts ->
            orbit_trace:tracer_loop(event(Msg, State));
        orbit_trace_flush ->
            orbit_trace:tracer_loop(tick(State));
        {orbit_trace_req, From, Ref, info} ->
            From ! {Ref, info(State)},
            orbit_trace:tracer_loop(State);
        {orbit_trace_req, From, Ref, {stop, Reason}} ->
            shutdown(Reason, State),
            From ! {Ref, ok},
            exit(normal);
        {nodedown, Node} ->
            case maps:get(owner, State) of
                Node ->
                    shutdown(owner_down, State),
                    exit(normal);
                _ ->
                    orbit_trace:tracer_loop(State)
            end;
        _Other ->
            orbit_trace:tracer_loop(State)
    end.

%% The session as its weak reference ({Name, N}, or legacy): the strong one stays with the tracer.
info(State) ->
    Info = maps:with([id, owner, patterns, count, dropped], State),
    Info#{session => weak(maps:get(session, State, legacy))}.

event(Msg, State) ->
    #{count := Count, batch := Batch, blen := Len, limit := Limit} = State,
    case admit(Limit, State) of
        {ok, State1} ->
            {Event, State2} = convert(Msg, State1),
            State3 = State2#{count := Count + 1, batch := [Event | Batch], blen := Len + 1},
            case Limit of
                {count, N} when Count + 1 >= N ->
                    shutdown({count, N}, State3),
                    exit(normal);
                _ ->
                    case Len + 1 >= maps:get(batch_max, State3) of
                        true -> flush(State3);
                        false -> State3
                    end
            end;
        {tripped, Reason, State1} ->
            shutdown(Reason, State1#{dropped := maps:get(dropped, State1) + 1}),
            exit(normal)
    end.

%% recon_trace's rate rule: more than N events within one window of Ms milliseconds trips the limit.
admit({rate, N, Ms}, #{win_start := Start, win_count := WinCount} = State) ->
    Now = erlang:monotonic_time(millisecond),
    {Start1, Count1} = case Now - Start >= Ms of
                           true -> {Now, 0};
                           false -> {Start, WinCount}
                       end,
    case Count1 + 1 > N of
        true -> {tripped, {rate, N, Ms}, State#{win_start := Start1, win_count := Count1}};
        false -> {ok, State#{win_start := Start1, win_count := Count1 + 1}}
    end;
admit(_, State) ->
    {ok, State}.

tick(State) ->
    State1 = flush(State),
    Now = erlang:monotonic_time(millisecond),
    {message_queue_len, QLen} = erlang:process_info(self(), message_queue_len),
    case {QLen > maps:get(max_queue, State1), maps:get(deadline, State1)} of
        {true, _} ->
            shutdown({overloaded, QLen}, State1#{drain => false}),
            exit(normal);
        {false, Deadline} when Deadline =/= infinity, Now >= Deadline ->
            shutdown(duration, State1),
            exit(normal);
        _ ->
            erlang:send_after(maps:get(batch_ms, State1), self(), orbit_trace_flush),
            State1
    end.

flush(#{blen := 0} = State) ->
    State;
flush(#{batch := Batch, dest := Dest, id := Id} = State) ->
    send(Dest, {orbit_trace, Id, node(), self(), events, lists:reverse(Batch)}),
    State#{batch := [], blen := 0}.

%% Orbit is a hidden node that accepts no connections: never try to connect to it.
send(Dest, Msg) ->
    catch erlang:send(Dest, Msg, [noconnect]),
    ok.

%% Removes every flag and pattern, forwards what is left (within the limit), and says why it stopped.
shutdown(Reason, State) ->
    untrace(State),
    State1 = case maps:get(drain, State, true) of
                 true -> drain(Reason, State, 10 * maps:get(batch_max, State));
                 false -> State
             end,
    State2 = drop_rest(State1),
    State3 = flush(State2),
    #{dest := Dest, id := Id, count := Count, dropped := Dropped} = State3,
    send(Dest, {orbit_trace, Id, node(), self(), stopped, Reason, #{events => Count, dropped => Dropped}}),
    catch unregister(orbit_tracer),
    ok.

untrace(#{session := {session, _} = Session}) ->
    %% Everything the tracer set is in its session, and nothing else is.
    t_destroy(Session);
untrace(#{patterns := Patterns}) ->
    Self = self(),
    lists:foreach(fun(MFA) -> catch t_pattern(legacy, MFA, false) end, Patterns),
    case t_info(legacy, new_processes, tracer) of
        {tracer, Self} -> catch t_flags(legacy, new_processes, false, [all]);
        _ -> ok
    end,
    lists:foreach(fun(P) ->
                          case t_info(legacy, P, tracer) of
                              {tracer, Self} -> catch t_flags(legacy, P, false, [all]);
                              _ -> ok
                          end
                  end, processes()).

%% ---------------------------------------------------------------------------------------------------
%% Where the flags and patterns live
%%
%% Where the node has trace sessions (OTP 27+, the trace module), the tracer's patterns and flags are
%% set in a session of its own, named orbit_trace, with the tracer as its tracer: a user's dbg or
%% recon_trace (the legacy session) and Orbit then each get their own trace messages, and ending one
%% leaves the other's patterns and flags as they were. The tracer holds the session in its state for as
%% long as it runs (a session whose last strong reference is garbage-collected ends silently, so a killed
%% tracer's session ends with it) and destroys it when it stops. On OTP 25/26 everything goes to the
%% node's one legacy session with erlang:trace/3 and erlang:trace_pattern/3.

has_sessions() ->
    _ = code:ensure_loaded(trace),
    erlang:function_exported(trace, session_create, 3).

%% legacy | {session, Session} | {error, {trace_session, Reason}}, with the caller (the tracer) as the
%% session's tracer. A node that cannot make one more session is refused, not traced in the legacy one.
new_session() ->
    case has_sessions() of
        true ->
            try trace:session_create(orbit_trace, self(), []) of
                S -> {session, S}
            catch
                error:Reason -> {error, {trace_session, Reason}}
            end;
        false ->
            legacy
    end.

weak({session, {_Strong, Weak}}) -> Weak;
weak(legacy) -> legacy.

%% Orbit's call tracing sessions on this node (weak references).
own_sessions() ->
    [W || {orbit_trace, _} = W <- trace:session_info(all)].

%% A call trace pattern (local: private functions too); the number of functions it matched.
t_pattern(legacy, MFA, MS) -> erlang:trace_pattern(MFA, MS, [local]);
t_pattern({session, S}, MFA, MS) -> trace:function(S, MFA, MS, [local]).

%% Process trace flags (Procs: processes, new_processes or a pid), the caller as tracer when set.
t_flags(legacy, Procs, true, Flags) -> erlang:trace(Procs, true, Flags ++ [{tracer, self()}]);
t_flags(legacy, Procs, false, Flags) -> erlang:trace(Procs, false, Flags);
t_flags({session, S}, Procs, How, Flags) -> trace:process(S, Procs, How, Flags).

t_info(legacy, What, Item) -> erlang:trace_info(What, Item);
t_info({session, S}, What, Item) -> trace:info(S, What, Item).

%% Ends a session (strong or weak reference) and with it every pattern and flag set in it.
t_destroy({session, S}) -> catch trace:session_destroy(S), ok;
t_destroy(legacy) -> ok.

%% Trace messages already queued: kept while the limit allows (not after a limit tripped).
drain(_Reason, State, 0) ->
    State;
drain(Reason, #{count := Count, limit := Limit, batch := Batch, blen := Len} = State, Budget) ->
    receive
        Msg when is_tuple(Msg), tuple_size(Msg) >= 5, element(1, Msg) =:= trace_ts ->
            Keep = case {Reason, Limit} of
                       {{count, _}, _} -> false;
                       {{rate, _, _}, _} -> false;
                       {_, {count, N}} -> Count < N;
                       _ -> true
                   end,
            case Keep of
                true ->
                    {Event, State1} = convert(Msg, State),
                    drain(Reason, State1#{count := Count + 1, batch := [Event | Batch], blen := Len + 1},
                          Budget - 1);
                false ->
                    drain(Reason, State#{dropped := maps:get(dropped, State) + 1}, Budget - 1)
            end
    after 0 ->
        State
    end.

drop_rest(State) ->
    receive
        Msg when is_tuple(Msg), tuple_size(Msg) >= 5, element(1, Msg) =:= trace_ts ->
            drop_rest(State#{dropped := maps:get(dropped, State) + 1})
    after 0 ->
        State
    end.

%% ---------------------------------------------------------------------------------------------------
%% Events as Orbit reads them

convert({trace_ts, Pid, call, {M, F, Args}, Ts}, State) ->
    named(Pid, State, fun(Name) -> {call, us(Ts), Pid, Name, M, F, shrink(Args)} end);
convert({trace_ts, Pid, call, {M, F, Args}, _Extra, Ts}, State) ->
    named(Pid, State, fun(Name) -> {call, us(Ts), Pid, Name, M, F, shrink(Args)} end);
convert({trace_ts, Pid, return_from, {M, F, A}, Value, Ts}, State) ->
    named(Pid, State, fun(Name) -> {return, us(Ts), Pid, Name, M, F, A, shrink(Value)} end);
convert({trace_ts, Pid, exception_from, {M, F, A}, {Class, Value}, Ts}, State) ->
    named(Pid, State, fun(Name) -> {exception, us(Ts), Pid, Name, M, F, A, Class, shrink(Value)} end);
convert({trace_ts, Pid, send, Msg, To, Ts}, State) ->
    {ToName, State1} = name_of(To, State),
    named(Pid, State1, fun(Name) ->
                               {send, us(Ts), Pid, Name, To, ToName, shrink(Msg), erlang:phash2(Msg), true}
                       end);
convert({trace_ts, Pid, send_to_non_existing_process, Msg, To, Ts}, State) ->
    named(Pid, State, fun(Name) ->
                              {send, us(Ts), Pid, Name, To, [], shrink(Msg), erlang:phash2(Msg), false}
                      end);
convert({trace_ts, Pid, 'receive', Msg, Ts}, State) ->
    named(Pid, State, fun(Name) -> {recv, us(Ts), Pid, Name, shrink(Msg), erlang:phash2(Msg)} end);
convert(Other, State) ->
    Ts = element(tuple_size(Other), Other),
    {{other, us(Ts), element(2, Other), shrink(Other)}, State}.

named(Pid, State, Make) ->
    {Name, State1} = name_of(Pid, State),
    {Make(Name), State1}.

%% The registered name of a local process ([] when none), cached.
name_of(Pid, #{names := Names} = State) when is_pid(Pid), node(Pid) =:= node() ->
    case Names of
        #{Pid := Name} ->
            {Name, State};
        _ ->
            Name = case erlang:process_info(Pid, registered_name) of
                       {registered_name, N} -> N;
                       _ -> []
                   end,
            Names1 = case map_size(Names) >= 10000 of
                         true -> #{};
                         false -> Names
                     end,
            {Name, State#{names := Names1#{Pid => Name}}}
    end;
name_of(_, State) ->
    {[], State}.

us({Mega, Sec, Micro}) -> (Mega * 1000000 + Sec) * 1000000 + Micro;
us(_) -> erlang:system_time(microsecond).

%% A term cut to a bounded size: small terms as they are, big ones with at most 16 elements per list,
%% tuple or map, 256 bytes per binary, 6 levels; what was cut is marked '...'.
shrink(Term) ->
    case erlang:external_size(Term) =< 4096 of
        true -> Term;
        false -> shrink(Term, 6)
    end.

shrink(_Term, 0) ->
    '...';
shrink(B, _) when is_binary(B), byte_size(B) > 256 ->
    <<(binary:part(B, 0, 256))/binary, "...">>;
shrink(L, D) when is_list(L) ->
    shrink_list(L, D - 1, 16);
shrink(T, D) when is_tuple(T) ->
    list_to_tuple(shrink_list(tuple_to_list(T), D - 1, 16));
shrink(M, D) when is_map(M) ->
    Pairs = maps:to_list(M),
    Kept = case maps:find('__struct__', M) of
               {ok, S} -> [{'__struct__', S} | lists:sublist(lists:keydelete('__struct__', 1, Pairs), 15)];
               error -> lists:sublist(Pairs, 16)
           end,
    Cut = maps:from_list([{K, shrink(V, D - 1)} || {K, V} <- Kept]),
    case map_size(M) > length(Kept) of
        true -> Cut#{'...' => map_size(M) - length(Kept)};
        false -> Cut
    end;
shrink(Other, _) ->
    Other.

shrink_list([], _, _) -> [];
shrink_list(_, _, 0) -> ['...'];
shrink_list([H | T], D, N) -> [shrink(H, D) | shrink_list(T, D, N - 1)];
shrink_list(Tail, D, _) -> shrink(Tail, D).

%% ---------------------------------------------------------------------------------------------------
%% Talking to a tracer

request(Pid, Request, Timeout) ->
    Ref = erlang:monitor(process, Pid),
    Pid ! {orbit_trace_req, self(), Ref, Request},
    receive
        {Ref, Reply} ->
            erlang:demonitor(Ref, [flush]),
            Reply;
        {'DOWN', Ref, process, _, Reason} ->
            {error, {no_tracer, Reason}}
    after Timeout ->
        erlang:demonitor(Ref, [flush]),
        {error, timeout}
    end.

%% Asks a tracer to stop and waits until it is gone; kills it when it does not go within 5 s.
stop_tracer(Pid, Reason) ->
    Ref = erlang:monitor(process, Pid),
    Pid ! {orbit_trace_req, self(), Ref, {stop, Reason}},
    receive
        {'DOWN', Ref, process, _, _} -> ok
    after 5000 ->
        exit(Pid, kill),
        receive
            {'DOWN', Ref, process, _, _} -> ok
        after 5000 -> ok
        end
    end,
    receive
        {Ref, _} -> ok
    after 0 -> ok
    end.
