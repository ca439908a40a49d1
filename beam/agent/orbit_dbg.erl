%% Orbit's debugger helpers on a node, around OTP's interpreter (int / dbg_iserver / dbg_ieval).
%%
%% Everything here runs on the node whose processes it concerns, so that bindings, messages and stacks
%% are read and summarised where they live and only what the editor shows crosses the network.
%%
%% - source_index/0, module_lines/1: which modules come from which files, and where int can stop.
%% - prepare_server/1, interpret/2, uninterpret/1: interpretation node by node (int:ni reaches only visible
%%   nodes, and never nodes that join later).
%% - condition/2: called by the interpreter (through orbit_dbg_cond) for conditions, hit counts, log points.
%% - stack/1, scope/3, children/5, eval/5, set_variable/5: reading and changing a paused process.
%% - a keeper process per node and Orbit session: owns the condition table, holds suspensions of
%%   non-interpreted processes (undone by the runtime when the keeper exits), watches the Orbit node.
%% - cleanup/2: the clean-up contract: breakpoints removed, paused processes resumed, modules native again.
-module(orbit_dbg).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([parse_expr/2]).
-export([ensure_debugger_code/0, restore_code_path/0]).
-export([ensure_server/0, server/0, attach/3, source_index/1, module_lines/1, module_lines/2, beam_md5/1,
         load_into_server/2, interpret/2, interpret_when_loadable/2, watch_loop/5, uninterpret/1, interpreted_here/1,
         breakpoint/3, undefined_function/3, undefined_lambda/3,
         start_keeper/2, stop_keeper/0, keeper_loop/1,
         set_condition/2, clear_conditions/1, condition/2, step/2, step_landed/2,
         stack/1, caller/1, waiting_callers/1, erpc_parent/1, hold/1, call_target/3, scope/3, children/4, eval/5, pure/2, set_variable/5, forget/1, stored/1,
         struct_fields/1, process_scope/1, suspend/1, resume/1, resume_all/0, current_stack/1, pause/1,
         install_crash_forwarder/1, remove_crash_forwarder/0, log/2, crash_filter/2,
         cleanup/2, snapshot_here/0, take/1, shrink/2, limits/0]).

%% ---------------------------------------------------------------------------------------------
%% The interpreter server

%% OTP's debugger application (int, dbg_iserver, dbg_ieval…) made loadable on this node for the session
%% when the node's code path lacks it: Elixir 1.15+ prunes a `mix run`/`iex -S mix` node's path to the
%% applications its project lists, and a release has only those it includes. The application is taken
%% from the node's own Erlang installation; restore_code_path/0 (run by cleanup/2) takes the path back.
%% {error, {no_debugger, RootDir}} where the installation has none (a release with bundled ERTS).
ensure_debugger_code() ->
    case code:lib_dir(debugger) of
        Dir when is_list(Dir) -> ok;
        {error, _} ->
            Found = filelib:wildcard(filename:join([code:root_dir(), "lib", "debugger-*", "ebin"])),
            case lists:sort(fun newer_or_same/2, Found) of
                [] -> {error, {no_debugger, unicode:characters_to_binary(code:root_dir())}};
                [Ebin | _] ->
                    case code:add_pathz(Ebin) of
                        true ->
                            persistent_term:put(orbit_dbg_added_path, Ebin),
                            ok;
                        Error -> {error, {no_debugger, Error}}
                    end
            end
    end.

%% debugger-5.10 before debugger-5.9.
newer_or_same(A, B) -> version_of(A) >= version_of(B).

version_of(Ebin) ->
    "debugger-" ++ V = filename:basename(filename:dirname(Ebin)),
    [case string:to_integer(P) of {N, _} when is_integer(N) -> N; _ -> 0 end || P <- string:split(V, ".", all)].

%% Undoes ensure_debugger_code/0. Modules already loaded stay loaded (a meta process finishing its call
%% still runs them); only the path the node had is restored.
restore_code_path() ->
    case persistent_term:get(orbit_dbg_added_path, undefined) of
        undefined -> ok;
        Ebin ->
            _ = code:del_path(Ebin),
            persistent_term:erase(orbit_dbg_added_path),
            ok
    end.

%% The cluster's dbg_iserver (a global name); started on this node when there is none.
ensure_server() ->
    case ensure_debugger_code() of
        ok -> ensure_server_here();
        Error -> Error
    end.

ensure_server_here() ->
    case global:whereis_name(dbg_iserver) of
        Pid when is_pid(Pid) -> {ok, Pid};
        undefined ->
            case whereis(dbg_iserver) of
                Pid when is_pid(Pid) ->
                    %% A local server that lost its global name (e.g. after a partition healed).
                    global:re_register_name(dbg_iserver, Pid),
                    {ok, Pid};
                undefined ->
                    case dbg_iserver:start() of
                        {ok, Pid} ->
                            %% Noted so that the clean-up stops it again (stop_own_server/1).
                            persistent_term:put(orbit_dbg_started_server, Pid),
                            {ok, Pid};
                        {error, {already_started, Pid}} -> {ok, Pid};
                        Other -> {error, Other}
                    end
            end
    end.

%% Attaches AttPid (one of Orbit's pids) to Pid. The server crashes on an attach to a process it does not
%% know (e.g. one cleared with int:clear/0 meanwhile), taking every debugging session with it, so check.
attach(Server, AttPid, Pid) ->
    case lists:keymember(Pid, 1, gen_server:call(Server, snapshot, 5000)) of
        true -> gen_server:call(Server, {attached, AttPid, Pid}, 5000);
        false -> {error, not_interpreted}
    end.

server() ->
    case global:whereis_name(dbg_iserver) of
        Pid when is_pid(Pid) -> Pid;
        undefined -> undefined
    end.

%% ---------------------------------------------------------------------------------------------
%% Sources and lines

%% [{Module, SourcePath}] for the application modules on this node: those loaded, and those in the code
%% path that are not loaded yet. OTP's and Elixir's own modules are left out. Prefixes: lib dirs to skip.
source_index(SkipPrefixes0) ->
    ElixirRoot = case code:lib_dir(elixir) of
                     D when is_list(D) -> [filename:dirname(D)];
                     _ -> []
                 end,
    Skip = [code:lib_dir() | ElixirRoot ++ [binary_to_list(P) || P <- SkipPrefixes0]],
    Loaded = [{M, F} || {M, F} <- code:all_loaded(), is_list(F), not skipped(F, Skip)],
    LoadedSet = maps:from_list([{M, true} || {M, _} <- Loaded]),
    FromLoaded = [{M, S} || {M, _} <- Loaded, S <- [module_source(M)], S =/= undefined],
    Dirs = [D || D <- code:get_path(), not skipped(D, Skip)],
    FromPath = lists:append([beams_in(D, LoadedSet) || D <- Dirs]),
    lists:usort(FromLoaded ++ FromPath).

skipped(Path, Skip) ->
    lists:any(fun(P) -> lists:prefix(P, Path) end, Skip) orelse Path =:= "." orelse Path =:= [].

module_source(M) ->
    try proplists:get_value(source, M:module_info(compile)) of
        undefined -> undefined;
        S -> unicode:characters_to_binary(S)
    catch _:_ -> undefined
    end.

beams_in(Dir, LoadedSet) ->
    case file:list_dir(Dir) of
        {ok, Files} ->
            lists:filtermap(
              fun(F) ->
                      case filename:extension(F) =:= ".beam" andalso
                          not maps:is_key(list_to_atom(filename:basename(F, ".beam")), LoadedSet) of
                          true -> beam_source(filename:join(Dir, F));
                          false -> false
                      end
              end, Files);
        _ -> []
    end.

beam_source(Path) ->
    case beam_lib:chunks(Path, [compile_info]) of
        {ok, {M, [{compile_info, Info}]}} ->
            case proplists:get_value(source, Info) of
                undefined -> false;
                S -> {true, {M, unicode:characters_to_binary(S)}}
            end;
        _ -> false
    end.

%% The lines where the interpreter can stop in Module, its functions with their line spans, and the first
%% line of each clause's body: {ok, #{lines => [Line], functions => [{Name, Arity, FirstLine, LastLine}],
%% clauses => [{Name, Arity, [FirstBodyLine]}], source => Bin}}.
module_lines(Mod) ->
    lines_of(Mod, abstract_code(Mod)).

%% The same, from a binary of Mod that Orbit sends: the project's own build of it, where the node's copy has
%% no debug info (a release strips it by default) and so no lines to read.
module_lines(Mod, Bin) ->
    lines_of(Mod, case beam_lib:chunks(Bin, [abstract_code]) of
                      {ok, {Mod, [{abstract_code, {raw_abstract_v1, Forms}}]}} -> {ok, Forms, Bin};
                      _ -> {error, no_debug_info}
                  end).

lines_of(Mod, Code) ->
    case Code of
        {ok, Forms, _Bin} ->
            Funs = [{N, A, lists:min(Ls), lists:max(Ls)}
                    || {function, Anno, N, A, Cs} <- Forms,
                       line(Anno) > 0,
                       Ls <- [[line(Anno) | [line(element(2, C)) || C <- Cs] ++ [L || L <- body_lines(Cs), L > 0]]]],
            Lines = lists:usort([L || {function, _, _, _, Cs} <- Forms, L <- body_lines(Cs), L > 0]),
            Clauses = [{N, A, [line(element(2, E)) || {clause, _, _, _, [E | _]} <- Cs, is_tuple(E)]}
                       || {function, Anno, N, A, Cs} <- Forms, line(Anno) > 0],
            {ok, #{lines => Lines, functions => Funs, clauses => Clauses, source => module_source(Mod)}};
        {error, _} = E -> E
    end.

beam_md5(Mod) ->
    case code:is_loaded(Mod) of
        {file, _} -> Mod:module_info(md5);
        false -> undefined
    end.

abstract_code(Mod) ->
    case beam_binary(Mod) of
        {ok, Bin} ->
            case beam_lib:chunks(Bin, [abstract_code]) of
                {ok, {_, [{abstract_code, {raw_abstract_v1, Forms}}]}} -> {ok, Forms, Bin};
                {ok, {_, [{abstract_code, no_abstract_code}]}} -> {error, no_debug_info};
                _ -> {error, no_debug_info}
            end;
        E -> E
    end.

%% The object code of Mod as this node has it: the file the loaded module came from, else the code path.
beam_binary(Mod) ->
    Path = case code:which(Mod) of
               P when is_list(P) -> P;
               _ -> code:where_is_file(atom_to_list(Mod) ++ ".beam")
           end,
    case is_list(Path) andalso erl_prim_loader:get_file(Path) of
        {ok, Bin, _} -> {ok, Bin};
        _ -> {error, no_beam}
    end.

line(Anno) when is_integer(Anno) -> Anno;
line(Anno) -> try erl_anno:line(Anno) of L when is_integer(L) -> L; _ -> 0 catch _:_ -> 0 end.

%% Lines of every expression the interpreter evaluates as a step: each expression of every body
%% (function, case, receive, if, try, fun and block bodies), as dbg_ieval:seq/3 does.
body_lines(Term) ->
    body_lines([Term], []).

body_lines([], Acc) -> Acc;
body_lines([{clause, _, _, _, Body} = C | Rest], Acc) ->
    body_lines(Body ++ sub(C) ++ Rest, [line(element(2, E)) || E <- Body, is_tuple(E), tuple_size(E) >= 2] ++ Acc);
body_lines([{block, _, Body} | Rest], Acc) ->
    body_lines(Body ++ Rest, [line(element(2, E)) || E <- Body, is_tuple(E), tuple_size(E) >= 2] ++ Acc);
body_lines([{'try', _, Body, Cs1, Cs2, After} | Rest], Acc) ->
    Seq = [line(element(2, E)) || E <- Body ++ After, is_tuple(E), tuple_size(E) >= 2],
    body_lines(Body ++ After ++ Cs1 ++ Cs2 ++ Rest, Seq ++ Acc);
body_lines([{'receive', _, Cs, _T, After} | Rest], Acc) ->
    Seq = [line(element(2, E)) || E <- After, is_tuple(E), tuple_size(E) >= 2],
    body_lines(Cs ++ After ++ Rest, Seq ++ Acc);
body_lines([T | Rest], Acc) when is_tuple(T) ->
    body_lines(sub(T) ++ Rest, Acc);
body_lines([L | Rest], Acc) when is_list(L) ->
    body_lines(L ++ Rest, Acc);
body_lines([_ | Rest], Acc) ->
    body_lines(Rest, Acc).

sub(T) when is_tuple(T) -> [E || E <- tl(tuple_to_list(T)), is_tuple(E) orelse is_list(E)];
sub(_) -> [].

%% ---------------------------------------------------------------------------------------------
%% Interpretation

%% Puts Mod's code into the interpreter server (once for the cluster), from this node's object code.
load_into_server(Server, Mod) ->
    case abstract_code(Mod) of
        {ok, _Forms, Bin} ->
            {ok, {Mod, [{abstract_code, Abst}, {exports, Exp}]}} = beam_lib:chunks(Bin, [abstract_code, exports]),
            Src = case module_source(Mod) of undefined -> <<>>; S -> S end,
            SrcBin = case file:read_file(Src) of {ok, B} -> B; _ -> <<>> end,
            MD5 = code:module_md5(Bin),
            Term = term_to_binary({interpreter_module, Exp, Abst, SrcBin, MD5}),
            case gen_server:call(Server, {load, Mod, binary_to_list(Src), Term}, 60000) of
                {module, Mod} -> {ok, MD5};
                Other -> {error, Other}
            end;
        E -> E
    end.

%% Makes calls into Mod on this node go through the interpreter. Only when the code loaded here is the
%% code the server interprets (same md5): a node running another version is left alone and reported.
%% Every call into interpreted code looks the interpreter server up by its global name: on a node that
%% does not see it yet (one that joined a moment ago), such a call would crash, so wait for it first.
interpret(Mod, WantMD5) ->
    _ = code:ensure_loaded(Mod),
    case {beam_md5(Mod), ensure_debugger_code()} of
        {_, {error, {no_debugger, _}} = NoDebugger} -> NoDebugger;
        {undefined, _} -> {error, not_loaded};
        {WantMD5, ok} ->
            case wait_server(100) of
                true ->
                    _ = erts_debug:breakpoint({Mod, '_', '_'}, true),
                    ok;
                false -> {error, no_server}
            end;
        {Other, ok} -> {error, {other_version, Other}}
    end.

%% Interprets Mod here as soon as it can be loaded: a node that joined while it was starting gets its
%% application's code path a moment after its distribution, and its application may call Mod at once.
%% A watcher owned by the keeper tries every 10 ms (up to 2 minutes) and tells the session's event
%% process {orbit_dbg_interpreted, Node, Mod, Result}; the clean-up stops the watchers first.
interpret_when_loadable(Mod, WantMD5) ->
    keeper_call({watch, Mod, WantMD5}).

watch_loop(Mod, WantMD5, Events, Keeper, N) ->
    case is_process_alive(Keeper) of
        false -> ok;
        true ->
            case code:ensure_loaded(Mod) of
                {module, Mod} -> Events ! {orbit_dbg_interpreted, node(), Mod, interpret(Mod, WantMD5)};
                _ when N =< 0 -> Events ! {orbit_dbg_interpreted, node(), Mod, {error, not_loaded}};
                _ -> timer:sleep(10), orbit_dbg:watch_loop(Mod, WantMD5, Events, Keeper, N - 1)
            end
    end.

wait_server(0) -> false;
wait_server(N) ->
    case server() of
        undefined -> timer:sleep(50), wait_server(N - 1);
        _ -> true
    end.

%% Back to native code on this node. The module stays loaded as it was; nothing is purged, so no
%% process running it is killed.
uninterpret(Mods) ->
    [erts_debug:breakpoint({M, '_', '_'}, false) || M <- Mods],
    ok.

%% Of Mods, those whose calls go through the interpreter on this node.
interpreted_here(Mods) ->
    [M || M <- Mods, code:is_loaded(M) =/= false, is_interpreted_here(M)].

%% The debug breakpoints that make calls go through the interpreter do not show in erlang:trace_info/2:
%% call the module from a probe process whose error handler is this module, so that such a breakpoint
%% answers here (breakpoint/3) instead of entering the interpreter.
is_interpreted_here(M) ->
    {Pid, Ref} = spawn_monitor(fun() ->
                                       process_flag(error_handler, orbit_dbg),
                                       exit({orbit_probe, M:module_info(module)})
                               end),
    receive
        {'DOWN', Ref, process, Pid, Reason} -> Reason =:= {orbit_probe, '$orbit_interpreted'}
    after 5000 ->
        exit(Pid, kill),
        false
    end.

%% Error handler of the probe above; the rest is what the default error handler does.
breakpoint(_Module, _Function, _Args) -> '$orbit_interpreted'.
undefined_function(M, F, A) -> error_handler:undefined_function(M, F, A).
undefined_lambda(M, F, A) -> error_handler:undefined_lambda(M, F, A).

%% ---------------------------------------------------------------------------------------------
%% The keeper

start_keeper(OrbitNode, EventPid) ->
    case whereis(orbit_dbg_keeper) of
        undefined -> ok;
        Old ->
            Ref = erlang:monitor(process, Old),
            exit(Old, kill),
            receive {'DOWN', Ref, _, _, _} -> ok after 5000 -> ok end
    end,
    Parent = self(),
    Pid = spawn(fun() ->
                        register(orbit_dbg_keeper, self()),
                        ets:new(orbit_dbg_conds, [named_table, public, set, {read_concurrency, true}]),
                        erlang:monitor_node(OrbitNode, true),
                        Parent ! {self(), ready},
                        orbit_dbg:keeper_loop(#{orbit => OrbitNode, events => EventPid, suspended => []})
                end),
    receive {Pid, ready} -> {ok, Pid} after 5000 -> {error, keeper_timeout} end.

stop_keeper() ->
    case whereis(orbit_dbg_keeper) of
        undefined -> ok;
        Pid -> keeper_call(Pid, stop)
    end.

keeper_call(Request) ->
    case whereis(orbit_dbg_keeper) of
        undefined -> {error, no_debug_session};
        Pid -> keeper_call(Pid, Request)
    end.

keeper_call(Pid, Request) ->
    Ref = erlang:monitor(process, Pid),
    Pid ! {orbit_dbg, self(), Ref, Request},
    receive
        {Ref, Reply} -> erlang:demonitor(Ref, [flush]), Reply;
        {'DOWN', Ref, _, _, R} -> {error, {no_keeper, R}}
    after 10000 -> erlang:demonitor(Ref, [flush]), {error, timeout}
    end.

keeper_loop(#{orbit := Orbit, suspended := Sus} = S) ->
    receive
        {nodedown, Orbit} ->
            [exit(W, kill) || W <- maps:get(watchers, S, [])],
            %% Exiting undoes every suspension this process made.
            exit(normal);
        {orbit_dbg, From, Ref, stop} ->
            [exit(W, kill) || W <- maps:get(watchers, S, [])],
            resume_list(Sus),
            From ! {Ref, ok},
            exit(normal);
        {orbit_dbg, From, Ref, {watch, Mod, WantMD5}} ->
            Keeper = self(),
            Events = maps:get(events, S),
            W = spawn(fun() -> orbit_dbg:watch_loop(Mod, WantMD5, Events, Keeper, 12000) end),
            From ! {Ref, ok},
            orbit_dbg:keeper_loop(S#{watchers => [W | maps:get(watchers, S, [])]});
        {orbit_dbg, From, Ref, stop_watchers} ->
            [exit(W, kill) || W <- maps:get(watchers, S, [])],
            From ! {Ref, ok},
            orbit_dbg:keeper_loop(S#{watchers => []});
        {orbit_dbg, From, Ref, {suspend, Pid}} ->
            case lists:member(Pid, Sus) of
                true -> From ! {Ref, ok}, orbit_dbg:keeper_loop(S);
                false ->
                    Reply = try erlang:suspend_process(Pid) of
                                true -> ok;
                                false -> {error, not_suspended}
                            catch error:badarg -> {error, no_such_process}
                            end,
                    From ! {Ref, Reply},
                    S1 = case Reply of ok -> S#{suspended := [Pid | Sus]}; _ -> S end,
                    orbit_dbg:keeper_loop(S1)
            end;
        {orbit_dbg, From, Ref, {resume, Pid}} ->
            resume_list([P || P <- Sus, P =:= Pid]),
            From ! {Ref, ok},
            orbit_dbg:keeper_loop(S#{suspended := Sus -- [Pid]});
        {orbit_dbg, From, Ref, resume_all} ->
            resume_list(Sus),
            From ! {Ref, ok},
            orbit_dbg:keeper_loop(S#{suspended := []});
        {orbit_dbg, From, Ref, suspended} ->
            From ! {Ref, Sus},
            orbit_dbg:keeper_loop(S);
        {orbit_dbg, From, Ref, events} ->
            From ! {Ref, maps:get(events, S)},
            orbit_dbg:keeper_loop(S);
        _ ->
            orbit_dbg:keeper_loop(S)
    after 1000 ->
        orbit_dbg:keeper_loop(S)
    end.

resume_list(Pids) ->
    [catch erlang:resume_process(P) || P <- Pids],
    ok.

%% ---------------------------------------------------------------------------------------------
%% Conditions, hit counts and log points (evaluated in the interpreter's meta process)

%% Spec: #{id, module, line, lang := elixir | erlang, condition := undefined | Source,
%%         hit := none | {eq | ge | gt | mod, N}, log := undefined | Source, events := Pid}
%% Sources are parsed here once; a source that does not parse is returned as {error, Message}.
set_condition(Slot, Spec0) ->
    try
        Lang = maps:get(lang, Spec0),
        Cond = parse_opt(Lang, maps:get(condition, Spec0, undefined)),
        Log = parse_log(Lang, maps:get(log, Spec0, undefined)),
        Spec = Spec0#{condition := Cond, log => Log, condition_src => src(maps:get(condition, Spec0, undefined))},
        ets:insert(orbit_dbg_conds, [{Slot, Spec}, {{count, Slot}, 0}]),
        ok
    catch
        throw:{parse_error, Msg} -> {error, Msg};
        error:badarg -> {error, <<"no debug session on this node">>}
    end.

src(B) when is_binary(B) -> B;
src(_) -> <<>>.

clear_conditions(Slots) ->
    catch [ets:delete(orbit_dbg_conds, S) || S <- Slots],
    catch [ets:delete(orbit_dbg_conds, {count, S}) || S <- Slots],
    ok.

parse_opt(_Lang, undefined) -> undefined;
parse_opt(_Lang, <<>>) -> undefined;
parse_opt(Lang, Src) -> parse_expr(Lang, Src).

%% Also the parser of orbit_dbg_trace's log messages.
parse_expr(elixir, Src) ->
    case code:ensure_loaded('Elixir.Code') of
        {module, _} -> ok;
        _ -> throw({parse_error, <<"Elixir is not available on this node">>})
    end,
    case 'Elixir.Code':string_to_quoted(Src) of
        {ok, Quoted} -> {elixir, Quoted};
        {error, {Meta, Msg, Token}} ->
            throw({parse_error, iolist_to_binary([format_meta(Meta), to_bin(Msg), to_bin(Token)])})
    end;
parse_expr(erlang, Src) ->
    Text = unicode:characters_to_list(Src),
    Dotted = case lists:reverse(string:trim(Text)) of [$. | _] -> Text; _ -> Text ++ "." end,
    case erl_scan:string(Dotted) of
        {ok, Tokens, _} ->
            case erl_parse:parse_exprs(Tokens) of
                {ok, Exprs} -> {erlang, Exprs};
                {error, {_, Mod, Desc}} -> throw({parse_error, unicode:characters_to_binary(Mod:format_error(Desc))})
            end;
        {error, {_, Mod, Desc}, _} -> throw({parse_error, unicode:characters_to_binary(Mod:format_error(Desc))})
    end.

format_meta(Meta) when is_list(Meta) ->
    case proplists:get_value(line, Meta) of
        undefined -> <<>>;
        L -> iolist_to_binary(io_lib:format("line ~p: ", [L]))
    end;
format_meta(L) when is_integer(L) -> iolist_to_binary(io_lib:format("line ~p: ", [L]));
format_meta(_) -> <<>>.

to_bin(B) when is_binary(B) -> B;
to_bin(L) when is_list(L) -> unicode:characters_to_binary(io_lib:format("~ts", [L]));
to_bin({A, B}) -> <<(to_bin(A))/binary, (to_bin(B))/binary>>;
to_bin(T) -> unicode:characters_to_binary(io_lib:format("~tp", [T])).

%% "x is {x}" -> [<<"x is ">>, {expr, Parsed}]
parse_log(_Lang, undefined) -> undefined;
parse_log(Lang, Src) -> parse_log(Lang, Src, <<>>, []).

parse_log(_Lang, <<>>, Lit, Acc) -> lists:reverse([Lit | Acc]);
parse_log(Lang, <<"{{", Rest/binary>>, Lit, Acc) -> parse_log(Lang, Rest, <<Lit/binary, "{">>, Acc);
parse_log(Lang, <<"}}", Rest/binary>>, Lit, Acc) -> parse_log(Lang, Rest, <<Lit/binary, "}">>, Acc);
parse_log(Lang, <<"{", Rest/binary>>, Lit, Acc) ->
    case binary:split(Rest, <<"}">>) of
        [Expr, After] -> parse_log(Lang, After, <<>>, [{expr, parse_expr(Lang, Expr)}, Lit | Acc]);
        [_] -> throw({parse_error, <<"log message has a '{' without its '}'">>})
    end;
parse_log(Lang, <<C, Rest/binary>>, Lit, Acc) -> parse_log(Lang, Rest, <<Lit/binary, C>>, Acc).

%% Called by the interpreter with the frame's bindings (newest first): true stops, anything else does not.
%% Every breakpoint Orbit sets has a slot, so that every check of every breakpoint comes through here.
%% No spec (no session on this node any more, its keeper gone): no stop, so that a breakpoint outliving
%% its session for a moment cannot pause a process that no one will continue.
condition(Slot, Bs) ->
    case catch ets:lookup(orbit_dbg_conds, Slot) of
        [{Slot, Spec}] -> pass_check(Slot, Spec, Bs);
        _ -> false
    end.

%% ---------------------------------------------------------------------------------------------
%% Passes: one stop each time execution reaches a breakpoint's line, no more and no fewer
%%
%% The interpreter checks a breakpoint before each expression of a body (function, clause, fun, block)
%% that stands on the breakpoint's line, and one line often holds several: `if state.balance >= x` is a
%% `case` on a `case`, a pipe nests calls, `a = f(); b = g()` is two expressions. This is the one place
%% that tells the checks of one pass over a line from the first check of the next pass:
%%
%%   A check belongs to the pass of the breakpoint's last deciding check in the same activation (its
%%   anchor) when the expression it checks is another one than the anchor's and part of what the anchor
%%   started: inside the anchor's expression, or after it in the same body (the interpreter's
%%   `dbg_ieval:seq/3` frame holds both). Shortcut: same activation and the bindings only grew (the
%%   clause of a nested `case` bound its variables).
%%   Anything else starts a pass: the anchor's own expression reached again (the next GenServer call
%%   served by the same process, the next element of an Enum.map fun, the next turn of a loop), another
%%   activation (the interpreter's call stack, dbg_istk, differs: recursion), another path to the line.
%%
%% An activation is the interpreter's call stack; anchors of activations that have returned are dropped,
%% so a recursive call's passes do not end the caller's. The first check of a pass decides (condition,
%% hit count, log message); the other checks of the pass never stop. A step (next, step in) that lands
%% on its own line and level asks the same rule through step_landed/2.
pass_check(Slot, Spec, Bs) ->
    Key = {orbit_pass, Slot},
    Istk = istk_here(),
    Anchors = live_anchors(Spec, Istk, get(Key)),
    Anchor = lists:keyfind(Istk, 1, Anchors),
    case Anchor of
        {Istk, Bs0, _} ->
            case grown(Bs0, Bs) of
                true -> false;
                false -> decide(Key, Slot, Spec, Bs, Istk, Anchor, Anchors)
            end;
        false -> decide(Key, Slot, Spec, Bs, Istk, Anchor, Anchors)
    end.

decide(Key, Slot, Spec, Bs, Istk, Anchor, Anchors) ->
    Where = where(self()),
    case Anchor of
        {_, _, Where0} ->
            case nested_in(Where0, Where) of
                true -> false;
                false -> new_pass(Key, Slot, Spec, Bs, Istk, Where, Anchors)
            end;
        false -> new_pass(Key, Slot, Spec, Bs, Istk, Where, Anchors)
    end.

new_pass(Key, Slot, Spec, Bs, Istk, Where, Anchors) ->
    put(Key, {Spec, [{Istk, Bs, Where} | lists:keydelete(Istk, 1, Anchors)]}),
    check(Slot, Spec, Bs).

%% The anchors of Spec's passes in activations that are still on the stack (Istk's own among them).
live_anchors(Spec, Istk, {Spec, Anchors}) ->
    [A || {I, _, _} = A <- Anchors, lists:suffix(I, Istk)];
live_anchors(_Spec, _Istk, _) -> [].

%% The interpreter's call stack in this meta process: the level and call line of each entry.
istk_here() ->
    case get(dbg_istk) of
        L when is_list(L) -> [{element(2, E), element(4, E)} || E <- L, is_tuple(E), tuple_size(E) >= 4];
        _ -> []
    end.

grown(Bs0, Bs) ->
    length(Bs) > length(Bs0) andalso lists:all(fun(B) -> lists:member(B, Bs) end, Bs0).

%% Is the expression checked at Where part of what the anchor at Where0 started (and not the anchor's own)?
nested_in({Expr0, Scope0}, {Expr, _}) when is_binary(Expr0), is_binary(Expr), Expr =/= Expr0 ->
    binary:match(Scope0, Expr) =/= nomatch;
nested_in(_, _) -> false.

%% What the interpreter of Meta (a meta process of this node; self() inside a condition) is checking:
%% {Expr, Scope}, the printed expression and the printed body it stands in (expression and the ones after
%% it), read from the frame of dbg_ieval:seq/3 that asked for the check. `unknown` where that frame is
%% not found (another OTP's interpreter): then every check starts a pass, so a stop is never lost.
where(Meta) ->
    case catch erlang:process_info(Meta, backtrace) of
        {backtrace, Bt} -> seq_frame(binary:split(Bt, <<"\n">>, [global]));
        _ -> unknown
    end.

seq_frame([]) -> unknown;
seq_frame([Line | Rest]) ->
    case binary:match(Line, <<"(dbg_ieval:seq/3">>) of
        nomatch -> seq_frame(Rest);
        _ -> seq_values(Rest, [])
    end.

seq_values([<<"y(", _/binary>> = Line | Rest], Acc) ->
    [_, Value] = binary:split(Line, <<")">>),
    seq_values(Rest, [string:trim(Value) | Acc]);
seq_values(_, Acc) ->
    Values = lists:reverse(Acc),
    Exprs = [V || <<"{", _/binary>> = V <- Values, binary:match(V, <<"{ieval,">>) =/= {0, 7}],
    Rests = [V || <<"[{", _/binary>> = V <- Values],
    case Exprs of
        [Expr | _] -> {Expr, iolist_to_binary([Expr | Rests])};
        [] -> unknown
    end.

%% Steps. The interpreter does not ask conditions on a step: after `next` or `step` from a line, it
%% stops at the next expression, which may be a nested one of the same line. step/2 records where the
%% paused process stands and sends the command; step_landed/2, asked when the step stopped on the line
%% and level it started from, applies the rule above and steps again (`again`) or lets the stop show.
step(Meta, Cmd) when Cmd =:= next; Cmd =:= step ->
    keeper_put({step_from, Meta}, where(Meta)),
    Meta ! {user, {cmd, Cmd}},
    ok;
step(Meta, Cmd) ->
    keeper_delete({step_from, Meta}),
    Meta ! {user, {cmd, Cmd}},
    ok.

step_landed(Meta, Cmd) ->
    case keeper_get({step_from, Meta}) of
        {ok, Where0} ->
            case nested_in(Where0, where(Meta)) of
                true -> Meta ! {user, {cmd, Cmd}}, again;
                false -> keeper_delete({step_from, Meta}), stop
            end;
        error -> stop
    end.

keeper_put(K, V) -> catch ets:insert(orbit_dbg_conds, {K, V}), ok.
keeper_delete(K) -> catch ets:delete(orbit_dbg_conds, K), ok.
keeper_get(K) ->
    case catch ets:lookup(orbit_dbg_conds, K) of
        [{K, V}] -> {ok, V};
        _ -> error
    end.

%% A step trap (see call_target/3) stops only the process the step went to, once.
check(Slot, #{trap := Only} = Spec, Bs) ->
    Mine = case Only of
               {node, N} -> node() =:= N;
               Pid when is_pid(Pid) -> get(self) =:= Pid
           end,
    Mine andalso ets:insert_new(orbit_dbg_conds, {{trap_fired, Slot, maps:get(id, Spec)}, true})
        andalso check(Slot, maps:remove(trap, Spec), Bs);
check(Slot, #{condition := Cond, hit := Hit} = Spec, Bs) ->
    Pass = case Cond of
               undefined -> true;
               Parsed ->
                   case eval_parsed(Parsed, Bs) of
                       {error, Msg} ->
                           %% Said on the console, and taken as not holding.
                           tell(Spec, <<"breakpoint condition `", (maps:get(condition_src, Spec, <<>>))/binary,
                                        "` failed: ", Msg/binary>>),
                           false;
                       Result -> truthy(Result)
                   end
           end,
    Pass andalso hit_ok(Slot, Hit) andalso log_or_stop(Spec, Bs).

truthy({ok, false}) -> false;
truthy({ok, nil}) -> false;
truthy({ok, _}) -> true;
truthy(_) -> false.

hit_ok(Slot, Hit) ->
    N = ets:update_counter(orbit_dbg_conds, {count, Slot}, 1),
    case Hit of
        none -> true;
        {eq, K} -> N =:= K;
        {ge, K} -> N >= K;
        {gt, K} -> N > K;
        {mod, K} -> K > 0 andalso N rem K =:= 0
    end.

log_or_stop(#{log := undefined}, _Bs) -> true;
log_or_stop(#{log := Parts} = Spec, Bs) ->
    tell(Spec, iolist_to_binary([log_part(P, Spec, Bs) || P <- Parts])),
    false.

%% A console line about the debugged process, from its meta.
tell(#{events := Events, id := Id}, Text) ->
    Debugged = case get(self) of P when is_pid(P) -> P; _ -> self() end,
    Events ! {orbit_dbg_log, Id, node(), Debugged, Text}.

log_part(B, _Spec, _Bs) when is_binary(B) -> B;
log_part({expr, Parsed}, #{lang := Lang}, Bs) ->
    case eval_parsed(Parsed, Bs) of
        {ok, V} when Lang =:= elixir, is_binary(V) -> V;
        {ok, V} -> inspect(Lang, V);
        {error, Msg} -> <<"<error: ", Msg/binary, ">">>
    end.

%% ---------------------------------------------------------------------------------------------
%% Evaluation with a frame's bindings

%% Evaluates a parsed expression with raw interpreter bindings; {ok, Value} | {error, Message}.
eval_parsed({elixir, Quoted}, Bs) ->
    Eval = fun() ->
                   try 'Elixir.Code':eval_quoted(Quoted, elixir_binding(Bs)) of
                       {V, _} -> {ok, V}
                   catch C:R:St -> {raised, C, R, St}
                   end
           end,
    case with_diagnostics(Eval) of
        {{ok, V}, _} -> {ok, V};
        {{raised, C, R, St}, Diagnostics} -> {error, compile_diagnostic(Diagnostics, format_exception(elixir, C, R, St))}
    end;
eval_parsed({erlang, Exprs}, Bs) ->
    try erl_eval:exprs(Exprs, erlang_binding(Bs)) of
        {value, V, _} -> {ok, V}
    catch C:R:St -> {error, format_exception(erlang, C, R, St)}
    end.

%% Elixir 1.15+ reports what stops an expression from compiling (an undefined variable…) as diagnostics,
%% and the exception only says "cannot compile file (errors have been logged)": capture them (not logged).
with_diagnostics(Fun) ->
    case erlang:function_exported('Elixir.Code', with_diagnostics, 2) of
        true -> 'Elixir.Code':with_diagnostics([{log, false}], Fun);
        false -> {Fun(), []}
    end.

compile_diagnostic(Diagnostics, Banner) ->
    case [M || #{severity := error, message := M} <- Diagnostics, is_binary(M)] of
        [Message | _] -> strip_nofile(Message);
        [] -> Banner
    end.

%% An exception as the language of the frame prints it: Elixir's banner (`** (ArithmeticError) bad
%% argument in arithmetic expression`), Erlang's own wording for Erlang code. The stack is left out: it
%% is the evaluator's, not the user's. Elixir 1.14 reports an unbound variable as a call to an undefined
%% function of arity 0; it is named as what the user wrote, a variable (as Elixir 1.15 does).
format_exception(elixir, C, R, St) ->
    case code:ensure_loaded('Elixir.Exception') of
        {module, _} ->
            Banner = 'Elixir.Exception':format_banner(C, R, St),
            case re:run(Banner, "undefined function ([a-z_][a-zA-Z0-9_]*)/0 \\(there is no such import\\)",
                        [{capture, all_but_first, binary}, unicode]) of
                {match, [Var]} -> <<"undefined variable \"", Var/binary, "\"">>;
                nomatch -> strip_nofile(Banner)
            end;
        _ -> format_exception(erlang, C, R, St)
    end;
format_exception(erlang, error, {unbound_var, V}, _St) ->
    unicode:characters_to_binary(io_lib:format("variable ~tp is unbound", [V]));
format_exception(erlang, C, R, St) ->
    Text = try erl_error:format_exception(C, R, St, #{stack_trim_fun => fun(_, _, _) -> true end,
                                                      column => 1})
           catch _:_ -> io_lib:format("~p: ~tp", [C, R])
           end,
    string:trim(unicode:characters_to_binary(Text)).

strip_nofile(Banner) ->
    re:replace(Banner, "^\\*\\* \\(CompileError\\) nofile:[0-9]+: ", "** (CompileError) ", [{return, binary}, unicode]).

%% Interpreter bindings of Elixir code name variables `_x@N`; the highest N is the current one.
elixir_binding(Bs) ->
    Best = lists:foldl(
             fun({Var, Val}, Acc) ->
                     case elixir_name(Var) of
                         {Name, N} ->
                             case maps:find(Name, Acc) of
                                 {ok, {M, _}} when M >= N -> Acc;
                                 _ -> Acc#{Name => {N, Val}}
                             end;
                         none -> Acc
                     end
             end, #{}, Bs),
    [{Name, Val} || {Name, {_, Val}} <- maps:to_list(Best)].

elixir_name(Var) ->
    case re:run(atom_to_list(Var), "^_(.+)@([0-9]+)$", [{capture, all_but_first, list}, unicode]) of
        {match, [Name, N]} -> {list_to_atom(Name), list_to_integer(N)};
        nomatch -> none
    end.

erlang_binding(Bs) ->
    lists:foldl(fun({Var, Val}, Acc) -> erl_eval:add_binding(Var, Val, Acc) end,
                erl_eval:new_bindings(), lists:reverse(Bs)).

inspect(elixir, V) ->
    case code:is_loaded('Elixir.Kernel') of
        {file, _} -> 'Elixir.Kernel':inspect(V, [{limit, 50}, {printable_limit, 1024}]);
        false -> inspect(erlang, V)
    end;
inspect(erlang, V) -> unicode:characters_to_binary(io_lib:format("~0tP", [V, 20])).

%% ---------------------------------------------------------------------------------------------
%% Reading a paused process (through its meta, from this node)

meta_get(Meta, What, Arg) ->
    Meta ! {user, {get, What, self(), Arg}},
    receive
        {Meta, What, Reply} -> {ok, Reply}
    after 5000 -> {error, meta_timeout}
    end.

%% [{Level, Module, Function, Arity, Line | undefined}], newest first. The top frame's line is what the
%% caller knows from break_at; the others come from the interpreter's stack.
stack(Meta) ->
    case meta_get(Meta, backtrace, all) of
        {ok, Trace} ->
            Lines = frame_lines(Meta, [Le || {Le, _} <- Trace]),
            {ok, [{Le, M, F, arity(A), maps:get(Le, Lines, undefined)} || {Le, {M, F, A}} <- Trace]};
        E -> E
    end.

%% The process that waits for this one's answer: {ok, CallerPid, How, CallerFunction} where How is
%% gen_server_call (it is serving a GenServer.call) or erpc (it runs a call that :erpc or :rpc spawned
%% from another node); CallerFunction is {M, F, Arity} of where the caller is now, or undefined. none.
caller(Meta) ->
    case meta_get(Meta, backtrace, all) of
        {ok, Trace} ->
            case [From || {_, {_, handle_call, [_Req, From, _State]}} <- Trace] of
                [{Pid, _Tag} | _] when is_pid(Pid) -> {ok, Pid, gen_server_call, current_function(Pid)};
                _ -> spawning_caller(Meta)
            end;
        _ -> none
    end.

%% The processes that wait for this one's answer, nearest first: the caller of the GenServer.call it serves
%% or the :erpc/:rpc caller that spawned it (caller/1), then, as far as they can be seen, those that wait
%% for that caller: a caller that itself runs a call some other node spawned with erpc (its parent), up to
%% four in all. [{Pid, How}].
waiting_callers(Meta) ->
    case caller(Meta) of
        {ok, Pid, How, _} -> [{Pid, How} | erpc_parents(Pid, 3)];
        _ -> []
    end.

erpc_parents(_Pid, 0) -> [];
erpc_parents(Pid, N) ->
    case catch erpc:call(node(Pid), orbit_dbg, erpc_parent, [Pid], 2000) of
        {ok, Parent} -> [{Parent, erpc} | erpc_parents(Parent, N - 1)];
        _ -> []
    end.

%% The process on another node that spawned Pid to run an :erpc/:rpc call, and waits for its answer.
erpc_parent(Pid) ->
    case catch erlang:process_info(Pid, [parent, current_stacktrace]) of
        [{parent, Parent}, {current_stacktrace, St}] when is_pid(Parent), node(Parent) =/= node() ->
            case [x || {erpc, execute_call, _, _} <- St] of
                [] -> none;
                _ -> {ok, Parent}
            end;
        _ -> none
    end.

%% Holds a process that waits for a paused one: suspended by this node's keeper (so resumed when the
%% keeper goes, also when Orbit vanishes), where this node's runtime stops the clocks of suspended
%% processes (OTP 29 on: a `receive … after` timer waits while the process is suspended), so the caller's
%% timeout does not run out while the debugger holds the callee. Elsewhere suspending would only delay
%% its timeout to the moment it is resumed: {not_held, OtpRelease}.
hold(Pid) ->
    Release = erlang:system_info(otp_release),
    case list_to_integer(Release) >= 29 of
        true ->
            case suspend(Pid) of
                ok -> held;
                Error -> Error
            end;
        false -> {not_held, list_to_binary(Release)}
    end.

%% erpc runs a call in a process that the caller spawned with spawn_request/5: its parent.
spawning_caller(Meta) ->
    Debugged = case erlang:process_info(Meta, dictionary) of
                   {dictionary, D} -> proplists:get_value(self, D);
                   _ -> undefined
               end,
    case is_pid(Debugged) andalso catch erlang:process_info(Debugged, [parent, current_stacktrace]) of
        [{parent, Parent}, {current_stacktrace, St}] when is_pid(Parent), node(Parent) =/= node() ->
            case [x || {erpc, execute_call, _, _} <- St] of
                [] -> none;
                _ -> {ok, Parent, erpc, current_function(Parent)}
            end;
        _ -> none
    end.

%% The caller's own function: the top frame of its stack that is not the call's plumbing (a caller
%% waiting in GenServer.call sits in gen:do_call/4, which says nothing about who called).
current_function(Pid) when node(Pid) =:= node() ->
    own_function(erlang:process_info(Pid, [current_function, current_stacktrace]));
current_function(Pid) ->
    try erpc:call(node(Pid), erlang, process_info, [Pid, [current_function, current_stacktrace]], 2000) of
        Info -> own_function(Info)
    catch _:_ -> undefined
    end.

own_function([{current_function, MFA}, {current_stacktrace, St}]) ->
    Plumbing = [gen, gen_server, gen_statem, proc_lib, erpc, rpc, 'Elixir.GenServer', 'Elixir.Task'],
    case [{M, F, A} || {M, F, A0, _} <- St, not lists:member(M, Plumbing),
                       A <- [if is_list(A0) -> length(A0); true -> A0 end]] of
        [Own | _] -> Own;
        [] -> MFA
    end;
own_function(_) ->
    undefined.

%% ---------------------------------------------------------------------------------------------
%% Stepping into the process a call goes to

%% Where a call on line Line of Mod, made by the paused process of Meta, lands in another process
%% (on this node or another):
%%   {gen_server, Node, Pid, CallbackModule, Function, Arity}: GenServer.call/cast (or :gen_server's) to
%%     Pid, or a message sent to a GenServer (handle_info/2);
%%   {spawned, Node, M, F, Arity}: :erpc.call/cast or :rpc.call/cast run M:F in a process on Node;
%%   none: no such call on that line (an ordinary step);
%%   {unknown, Why}: there is one, but where it lands cannot be told.
%% The call's target is computed from the line's code and the frame's bindings, before the call runs.
call_target(Meta, Mod, Line) ->
    case abstract_code(Mod) of
        {ok, Forms, _} ->
            case calls_on_line(Forms, Line) of
                [] -> none;
                [Call | _] ->
                    Bs = case bindings(Meta, nostack) of {ok, B} -> B; _ -> [] end,
                    try target(Call, Bs)
                    catch throw:{unknown, Why} -> {unknown, unicode:characters_to_binary(Why)}
                    end
            end;
        _ -> none
    end.

calls_on_line(Forms, Line) ->
    calls_on_line([F || {function, _, _, _, _} = F <- Forms], Line, []).

calls_on_line([], _Line, Acc) -> lists:reverse(Acc);
calls_on_line([T | Rest], Line, Acc) when is_tuple(T) ->
    Acc1 = case cross_call(T) of
               {ok, Call} ->
                   case line(element(2, T)) of Line -> [Call | Acc]; _ -> Acc end;
               false -> Acc
           end,
    calls_on_line(tuple_to_list(T) ++ Rest, Line, Acc1);
calls_on_line([L | Rest], Line, Acc) when is_list(L) -> calls_on_line(L ++ Rest, Line, Acc);
calls_on_line([_ | Rest], Line, Acc) -> calls_on_line(Rest, Line, Acc).

cross_call({call, _, {remote, _, {atom, _, M}, {atom, _, F}}, Args}) ->
    case {M, F, Args} of
        {erpc, call, [N, Mo, Fu, A | _]} -> {ok, {spawn, N, Mo, Fu, A}};
        {erpc, cast, [N, Mo, Fu, A]} -> {ok, {spawn, N, Mo, Fu, A}};
        {rpc, call, [N, Mo, Fu, A | _]} -> {ok, {spawn, N, Mo, Fu, A}};
        {rpc, cast, [N, Mo, Fu, A]} -> {ok, {spawn, N, Mo, Fu, A}};
        {G, call, [Dest, _ | _]} when G =:= 'Elixir.GenServer'; G =:= gen_server -> {ok, {gen_server, Dest, handle_call, 3}};
        {G, cast, [Dest, _]} when G =:= 'Elixir.GenServer'; G =:= gen_server -> {ok, {gen_server, Dest, handle_cast, 2}};
        {erlang, send, [Dest, _ | _]} -> {ok, {send, Dest}};
        {'Elixir.Kernel', send, [Dest, _]} -> {ok, {send, Dest}};
        _ -> false
    end;
cross_call({op, _, '!', Dest, _}) -> {ok, {send, Dest}};
cross_call(_) -> false.

target({spawn, NodeE, ModE, FunE, ArgsE}, Bs) ->
    Node = value(NodeE, Bs, "the node"),
    M = value(ModE, Bs, "the module"),
    F = value(FunE, Bs, "the function"),
    Arity = case list_length(ArgsE) of
                N when is_integer(N) -> N;
                undefined -> length(value(ArgsE, Bs, "the arguments"))
            end,
    is_atom(Node) andalso is_atom(M) andalso is_atom(F) orelse throw({unknown, "the call's node, module or function is not an atom"}),
    {spawned, Node, M, F, Arity};
target({gen_server, DestE, Fun, Arity}, Bs) ->
    Pid = resolve(value(DestE, Bs, "the destination")),
    {gen_server, node(Pid), Pid, callback_module(Pid), Fun, Arity};
target({send, DestE}, Bs) ->
    Pid = resolve(value(DestE, Bs, "the destination")),
    {gen_server, node(Pid), Pid, callback_module(Pid), handle_info, 2}.

list_length({nil, _}) -> 0;
list_length({cons, _, _, T}) -> case list_length(T) of N when is_integer(N) -> N + 1; U -> U end;
list_length(_) -> undefined.

%% The value of an expression of the paused frame, by erl_eval with the frame's bindings; bounded.
value(Expr, Bs, What) ->
    Self = self(),
    Ref = make_ref(),
    {Pid, MRef} = spawn_monitor(fun() -> Self ! {Ref, erl_eval:expr(Expr, erlang_binding(Bs))} end),
    receive
        {Ref, {value, V, _}} -> erlang:demonitor(MRef, [flush]), V;
        {'DOWN', MRef, process, Pid, _} -> throw({unknown, io_lib:format("~s cannot be worked out before the call runs", [What])})
    after 2000 ->
        exit(Pid, kill),
        throw({unknown, io_lib:format("working out ~s took too long", [What])})
    end.

resolve(Pid) when is_pid(Pid) -> Pid;
resolve(Name) when is_atom(Name) -> registered(Name, node());
resolve({Name, Node}) when is_atom(Name), is_atom(Node) -> registered(Name, Node);
resolve({global, Name}) ->
    case global:whereis_name(Name) of
        P when is_pid(P) -> P;
        _ -> throw({unknown, io_lib:format("no process is registered globally as ~tp", [Name])})
    end;
resolve({via, M, Name}) ->
    case catch M:whereis_name(Name) of
        P when is_pid(P) -> P;
        _ -> throw({unknown, io_lib:format("~tp finds no process named ~tp", [M, Name])})
    end;
resolve(Other) -> throw({unknown, io_lib:format("~tp names no process", [Other])}).

registered(Name, Node) ->
    case catch erpc:call(Node, erlang, whereis, [Name], 2000) of
        P when is_pid(P) -> P;
        _ -> throw({unknown, io_lib:format("no process is registered as ~s on ~s", [display(Name), Node])})
    end.

display(Name) ->
    case atom_to_list(Name) of
        "Elixir." ++ Rest -> Rest;
        Other -> Other
    end.

%% A GenServer's callback module (proc_lib notes it as the initial call's module).
callback_module(Pid) ->
    Info = case node(Pid) =:= node() of
               true -> erlang:process_info(Pid, [dictionary, initial_call]);
               false -> catch erpc:call(node(Pid), erlang, process_info, [Pid, [dictionary, initial_call]], 2000)
           end,
    case Info of
        [{dictionary, D}, {initial_call, _}] ->
            case proplists:get_value('$initial_call', D) of
                {M, init, 1} -> M;
                _ -> throw({unknown, io_lib:format("~p is not a GenServer: where it receives the message cannot be told", [Pid])})
            end;
        _ -> throw({unknown, io_lib:format("~p is not alive", [Pid])})
    end.

arity(A) when is_list(A) -> length(A);
arity(A) when is_integer(A) -> A;
arity(_) -> 0.

%% dbg_istk:stack_frame/2 crashes the meta (and so the debugged process) when asked about a level
%% that is not on its stack, so ask only while there are stack entries: from the top level, each answer
%% names the next level to ask about, until `top`. A post-mortem meta numbers its current frame 1, below
%% the levels of its stack entries: there the walk starts just above the first entry.
frame_lines(Meta, [Top, Next | _]) when Next < Top ->
    walk_up(Meta, Top, #{});
frame_lines(Meta, [_Top, Next | _]) ->
    walk_up(Meta, Next + 1, #{});
frame_lines(_Meta, _) -> #{}.

walk_up(Meta, SP, Acc) ->
    case meta_get(Meta, stack_frame, {up, SP}) of
        {ok, {Le, {_M, Line}, _Bs}} -> walk_up(Meta, Le, Acc#{Le => Line});
        _ -> Acc
    end.

%% Bindings of the frame at level SP (nostack for the top frame).
bindings(Meta, SP) ->
    meta_get(Meta, bindings, SP).

%% The variables of a frame, summarised: [{Name, Summary, Kind, Size, RawVar}] with Elixir names for Elixir
%% code (current binding first) and Erlang names otherwise. Lang: elixir | erlang.
scope(Meta, SP, Lang) ->
    case bindings(Meta, SP) of
        {ok, Bs} ->
            Vars = case Lang of
                       elixir -> elixir_vars(Bs);
                       erlang -> [{atom_to_binary(V), V, Val} || {V, Val} <- lists:keysort(1, Bs)]
                   end,
            {ok, [{Name, shrink(Val, limits()), kind(Val), size_of(Val), Raw} || {Name, Raw, Val} <- Vars]};
        E -> E
    end.

%% Current bindings first, then earlier ones named `x (previous N)`; compiler temporaries left out.
elixir_vars(Bs) ->
    Named = [{Name, N, Var, Val} || {Var, Val} <- Bs, {Name, N} <- [elixir_name(Var)], Name =/= '', Name =/= '_'],
    Sorted = lists:sort(fun({A, NA, _, _}, {B, NB, _, _}) -> {A, -NA} =< {B, -NB} end, Named),
    label_versions(Sorted, undefined, []).

label_versions([], _, Acc) -> lists:reverse(Acc);
label_versions([{Name, N, Var, Val} | Rest], Name, Acc) ->
    Label = iolist_to_binary([atom_to_binary(Name), " (@", integer_to_binary(N), ")"]),
    label_versions(Rest, Name, [{Label, Var, Val} | Acc]);
label_versions([{Name, _N, Var, Val} | Rest], _Prev, Acc) ->
    label_versions(Rest, Name, [{atom_to_binary(Name), Var, Val} | Acc]).

kind(V) when is_map(V) -> map;
kind(V) when is_list(V) -> list;
kind(V) when is_tuple(V) -> tuple;
kind(V) when is_binary(V) -> binary;
kind(V) when is_bitstring(V) -> bitstring;
kind(_) -> scalar.

size_of(V) when is_map(V) -> map_size(V);
size_of(V) when is_tuple(V) -> tuple_size(V);
size_of(V) when is_binary(V) -> byte_size(V);
size_of(V) when is_bitstring(V) -> bit_size(V);
size_of(V) when is_list(V) -> list_len(V, 0);
size_of(_) -> 0.

%% Length of a possibly improper list, counting the tail as one more element.
list_len([_ | T], N) -> list_len(T, N + 1);
list_len([], N) -> N;
list_len(_, N) -> N + 1.

%% Children of a value found by Root and Path, paged: Root = {binding, Meta, SP, Var} | {stored, Ref}
%% | {process, Pid}. Path: [index | {key, Term}]. Returns {ok, [{Label, Summary, Kind, Size, ChildKey}], Total}.
children(Root, Path, Offset, Count) ->
    case root_value(Root) of
        {ok, V0} ->
            case follow(V0, Path) of
                {ok, V} -> {ok, page(V, Offset, Count), size_of(V)};
                error -> {error, stale}
            end;
        E -> E
    end.

root_value({binding, Meta, SP, Var}) ->
    case bindings(Meta, SP) of
        {ok, Bs} -> case lists:keyfind(Var, 1, Bs) of {Var, V} -> {ok, V}; false -> {error, unbound} end;
        E -> E
    end;
root_value({stored, Ref}) -> stored(Ref);
root_value({process, Pid}) -> {ok, process_scope_value(Pid)}.

follow(V, []) -> {ok, V};
follow(V, [{key, K} | Rest]) when is_map(V) ->
    case maps:find(K, V) of {ok, C} -> follow(C, Rest); error -> error end;
follow(V, [I | Rest]) when is_tuple(V), is_integer(I), I >= 0, I < tuple_size(V) -> follow(element(I + 1, V), Rest);
follow(V, [I | Rest]) when is_list(V), is_integer(I), I >= 0 ->
    case nth_or_tail(V, I) of {ok, C} -> follow(C, Rest); error -> error end;
follow(_, _) -> error.

nth_or_tail([H | _], 0) -> {ok, H};
nth_or_tail([_ | T], I) -> nth_or_tail(T, I - 1);
nth_or_tail([], _) -> error;
nth_or_tail(Tail, 0) -> {ok, Tail};
nth_or_tail(_, _) -> error.

page(V, Offset, Count) when is_map(V) ->
    Keys = lists:sublist(lists:sort(maps:keys(V)), Offset + 1, Count),
    [{{key, K}, shrink(maps:get(K, V), limits()), kind(maps:get(K, V)), size_of(maps:get(K, V)), shrink(K, limits())} || K <- Keys];
page(V, Offset, Count) when is_tuple(V) ->
    [{I, shrink(element(I + 1, V), limits()), kind(element(I + 1, V)), size_of(element(I + 1, V)), I}
     || I <- lists:seq(Offset, min(tuple_size(V), Offset + Count) - 1)];
page(V, Offset, Count) when is_list(V) ->
    page_list(drop(V, Offset), Offset, Count, []);
page(V, Offset, Count) when is_binary(V) ->
    Size = byte_size(V),
    [{I, binary:at(V, I), scalar, 0, I} || I <- lists:seq(Offset, min(Size, Offset + Count) - 1)];
page(_, _, _) -> [].

drop(L, 0) -> L;
drop([_ | T], N) -> drop(T, N - 1);
drop(Other, _) -> Other.

page_list(_, _, 0, Acc) -> lists:reverse(Acc);
page_list([H | T], I, N, Acc) -> page_list(T, I + 1, N - 1, [{I, shrink(H, limits()), kind(H), size_of(H), I} | Acc]);
page_list([], _, _, Acc) -> lists:reverse(Acc);
page_list(Tail, I, _, Acc) -> lists:reverse([{I, shrink(Tail, limits()), kind(Tail), size_of(Tail), tail} | Acc]).

%% Limits used to summarise values shipped to Orbit: {MaxItems, MaxBytes, MaxDepth}. One more item, byte or
%% level than Orbit shows is kept, so Orbit still knows that something was cut and marks it with "…".
limits() -> {101, 4097, 13}.

%% A copy of V cut to Limits; cut containers keep one extra element so the renderer knows to elide.
shrink(V, {Items, Bytes, Depth}) -> shrink(V, Items, Bytes, Depth).

shrink(_V, _Items, _Bytes, 0) -> '$orbit_cut';
shrink(V, _Items, Bytes, _D) when is_binary(V), byte_size(V) > Bytes -> binary:part(V, 0, Bytes);
shrink(V, _Items, Bytes, _D) when is_bitstring(V), byte_size(V) > Bytes -> <<B:Bytes/binary, _/bitstring>> = V, B;
shrink(V, Items, Bytes, D) when is_list(V) -> shrink_list(V, Items, Bytes, D - 1, []);
shrink(V, Items, Bytes, D) when is_tuple(V) ->
    list_to_tuple([shrink(E, Items, Bytes, D - 1) || E <- lists:sublist(tuple_to_list(V), Items)]);
shrink(V, Items, Bytes, D) when is_map(V), map_size(V) =< Items ->
    maps:from_list([{shrink(K, Items, Bytes, D - 1), shrink(X, Items, Bytes, D - 1)} || {K, X} <- maps:to_list(V)]);
shrink(V, Items, Bytes, D) when is_map(V) ->
    Keys = lists:sublist(lists:sort(maps:keys(V)), Items),
    maps:from_list([{shrink(K, Items, Bytes, D - 1), shrink(maps:get(K, V), Items, Bytes, D - 1)} || K <- Keys]);
shrink(V, _, _, _) -> V.

shrink_list(_, 0, _, _, Acc) -> lists:reverse(Acc);
shrink_list([H | T], N, Bytes, D, Acc) -> shrink_list(T, N - 1, Bytes, D, [shrink(H, N, Bytes, D) | Acc]);
shrink_list([], _, _, _, Acc) -> lists:reverse(Acc);
shrink_list(Tail, _, Bytes, D, Acc) -> lists:reverse(Acc) ++ shrink(Tail, 1, Bytes, D).

%% Evaluates Source (Elixir or Erlang) with the bindings of the paused frame (or none: Meta = none),
%% on this node; stores the result for expansion. {ok, Summary, Kind, Size, Ref} | {error, Message} |
%% {refused, Items} when Opts has {read_only, Allowed} and the expression is not a pure read (see pure/2).
eval(Meta, SP, Lang, Source, Opts) ->
    try
        Parsed0 = parse_expr(Lang, Source),
        Checked = case is_list(Opts) andalso lists:keyfind(read_only, 1, Opts) of
                      {read_only, Allowed} -> pure(Parsed0, Allowed);
                      _ -> {ok, Parsed0}
                  end,
        case Checked of
            {refused, Items} -> {refused, Items};
            {ok, Parsed} ->
                Bs = case Meta of
                         none -> [];
                         _ -> case bindings(Meta, SP) of {ok, B} -> B; _ -> [] end
                     end,
                case eval_parsed(Parsed, Bs) of
                    {ok, V} ->
                        Ref = store(V),
                        {ok, shrink(V, limits()), kind(V), size_of(V), Ref};
                    {error, Msg} -> {error, Msg}
                end
        end
    catch throw:{parse_error, M} -> {error, M}
    end.

%% ---------------------------------------------------------------------------------------------
%% Read-only mode: is an expression a pure read?
%%
%% Allowed is Orbit's list of {Module, Function, Arity | '_'} (beam/src/read_only.rs decides it). Every
%% call the expression makes must be on it: Elixir after expanding Kernel's macros (`if`, `|>`, `and`, ...),
%% with Kernel functions taken as the BIFs the compiler inlines them to; Erlang as parsed. What is never a
%% pure read is refused as a construct: sending, receiving, calling a function value or a module held in a
%% variable, import/require/alias, comprehensions (they run a protocol's code). Elixir's `x.field` is
%% rewritten to :erlang.map_get/2, since Elixir calls x:field() when x holds a module.
%% {ok, Parsed} | {refused, [{M, F, A} | {construct, Text}]}.
pure({elixir, Quoted}, Allowed) ->
    Env = try 'Elixir.Code':env_for_eval([]) catch error:undef -> elixir:env_for_eval([]) end,
    {Q, Found} = ex_pure(Quoted, Env, []),
    pure_verdict({elixir, Q}, Found, Allowed);
pure({erlang, Exprs}, Allowed) ->
    pure_verdict({erlang, Exprs}, erl_pure(Exprs, []), Allowed).

pure_verdict(Parsed, Found, Allowed) ->
    Bad = [I || I <- lists:reverse(Found), not pure_allowed(I, Allowed)],
    case Bad of
        [] -> {ok, Parsed};
        _ -> {refused, dedup(Bad)}
    end.

pure_allowed({M, F, A}, Allowed) when is_atom(M) ->
    lists:member({M, F, A}, Allowed) orelse lists:member({M, F, '_'}, Allowed);
pure_allowed(_, _) -> false.

dedup(L) -> dedup(L, []).
dedup([], Acc) -> lists:reverse(Acc);
dedup([H | T], Acc) -> case lists:member(H, Acc) of true -> dedup(T, Acc); false -> dedup(T, [H | Acc]) end.

construct(Text) -> {construct, unicode:characters_to_binary(Text)}.

%% Plain functions, not macros: a node without an agent binary for its release compiles these sources
%% from parsed forms, with no preprocessor.
ex_refused() ->
    ['receive', import, require, alias, super, for, quote, unquote, unquote_splicing,
     defmodule, def, defp, defmacro].

ex_forms() ->
    ['__block__', '&', '=', 'case', 'cond', '->', 'fn', '%{}', '{}', '%', '<<>>', '^', 'when',
     'with', 'try', '|', '<-', '\\\\', '__aliases__', '__MODULE__', '__DIR__', '__ENV__',
     '__STACKTRACE__', '__CALLER__'].

%% Elixir: {Quoted', Found}.
%% A capture `&Mod.fun/1` only makes a function value (which nothing on the list can call).
ex_pure({'&', _, [{'/', _, [_, A]}]} = N, _Env, Acc) when is_integer(A) -> {N, Acc};
ex_pure({'::', M, [Expr, Type]}, Env, Acc) ->
    {E, Acc1} = ex_pure(Expr, Env, Acc),
    {{'::', M, [E, Type]}, Acc1};
%% `var.field` (no parentheses, the left side not a module): a map's field.
ex_pure({{'.', DM, [Left, Field]}, CM, []}, Env, Acc) when is_atom(Field), not is_atom(Left) ->
    case is_tuple(Left) andalso element(1, Left) =:= '__aliases__' of
        false ->
            case lists:keyfind(no_parens, 1, CM) of
                {no_parens, true} ->
                    {L, Acc1} = ex_pure(Left, Env, Acc),
                    {{{'.', DM, [erlang, map_get]}, lists:keydelete(no_parens, 1, CM), [Field, L]}, Acc1};
                _ -> ex_remote({{'.', DM, [Left, Field]}, CM, []}, Env, Acc)
            end;
        true -> ex_remote({{'.', DM, [Left, Field]}, CM, []}, Env, Acc)
    end;
ex_pure({{'.', _, [_Mod, Fun]}, _, Args} = N, Env, Acc) when is_atom(Fun), is_list(Args) ->
    ex_remote(N, Env, Acc);
ex_pure({{'.', _, [_Fun]}, _, Args}, Env, Acc) when is_list(Args) ->
    ex_args(Args, Env, [construct(<<"calling a function value">>) | Acc]);
ex_pure({Name, _, Args} = N, Env, Acc) when is_atom(Name), is_list(Args) ->
    case lists:member(Name, ex_refused()) of
        true -> {nil, [construct(atom_to_binary(Name, utf8)) | Acc]};
        false -> ex_local(N, Env, Acc)
    end;
ex_pure({Name, _, Ctx} = Var, _Env, Acc) when is_atom(Name), is_atom(Ctx) -> {Var, Acc};
ex_pure({Call, M, Args}, Env, Acc) when is_list(Args) ->
    %% A call whose head is an expression (e.g. the result of a call).
    {_, Acc1} = ex_pure(Call, Env, Acc),
    {{Call, M, Args}, [construct(<<"calling a function value">>) | Acc1]};
ex_pure({A, B}, Env, Acc) ->
    {A1, Acc1} = ex_pure(A, Env, Acc),
    {B1, Acc2} = ex_pure(B, Env, Acc1),
    {{A1, B1}, Acc2};
ex_pure(L, Env, Acc) when is_list(L) -> ex_args(L, Env, Acc);
ex_pure(Literal, _Env, Acc) -> {Literal, Acc}.

ex_args(Args, Env, Acc) ->
    lists:mapfoldl(fun(A, Ac) -> ex_pure(A, Env, Ac) end, Acc, Args).

ex_local({Name, Meta, Args} = N, Env, Acc) ->
    case lists:member(Name, ex_forms()) of
        true -> {As, Acc1} = ex_args(Args, Env, Acc), {{Name, Meta, As}, Acc1};
        false ->
            case ex_expand(N, Env) of
                {expanded, E} -> ex_pure(E, Env, Acc);
                {error, Msg} -> {N, [construct(Msg) | Acc]};
                same ->
                    %% A Kernel function (what a call without a module reaches in an evaluation).
                    {As, Acc1} = ex_args(Args, Env, Acc),
                    {{Name, Meta, As}, [ex_inline('Elixir.Kernel', Name, length(Args)) | Acc1]}
            end
    end.

ex_remote({{'.', DM, [Mod, Fun]}, CM, Args} = N, Env, Acc) ->
    case ex_expand(N, Env) of
        {expanded, E} -> ex_pure(E, Env, Acc);
        {error, Msg} -> {N, [construct(Msg) | Acc]};
        same ->
            {As, Acc1} = ex_args(Args, Env, Acc),
            Found = case ex_module(Mod, Env) of
                        {ok, M} -> ex_inline(M, Fun, length(Args));
                        error -> construct(<<"calling a module held in a variable">>)
                    end,
            {{{'.', DM, [Mod, Fun]}, CM, As}, [Found | Acc1]}
    end.

ex_module(M, _Env) when is_atom(M) -> {ok, M};
ex_module({'__aliases__', _, _} = A, Env) ->
    case catch 'Elixir.Macro':expand(A, Env) of
        M when is_atom(M) -> {ok, M};
        _ -> error
    end;
ex_module(_, _) -> error.

%% One step of macro expansion (Kernel's macros; nothing else is required in an evaluation).
ex_expand(N, Env) ->
    try 'Elixir.Macro':expand_once(N, Env) of
        N -> same;
        E -> {expanded, E}
    catch C:R:St -> {error, ["cannot be checked: ", format_exception(elixir, C, R, St)]}
    end.

%% A call as the compiler emits it: Kernel.length/1 is :erlang.length/1, Map.keys/1 is :maps.keys/1.
ex_inline(M, F, A) ->
    case catch elixir_rewrite:inline(M, F, A) of
        {IM, IF} when is_atom(IM), is_atom(IF) -> {IM, IF, A};
        _ -> {M, F, A}
    end.

%% Erlang: Found, walking every subterm of the abstract format.
erl_pure({call, _, {remote, _, {atom, _, M}, {atom, _, F}}, Args}, Acc) ->
    erl_pure(Args, [{M, F, length(Args)} | Acc]);
erl_pure({call, _, {atom, _, F}, Args}, Acc) ->
    Found = case erl_internal:bif(F, length(Args)) of
                true -> {erlang, F, length(Args)};
                false -> construct(io_lib:format("~tp/~b (a local function)", [F, length(Args)]))
            end,
    erl_pure(Args, [Found | Acc]);
erl_pure({call, _, {remote, _, _, _} = R, Args}, Acc) ->
    erl_pure([R | Args], [construct(<<"calling a module held in a variable">>) | Acc]);
erl_pure({call, _, Other, Args}, Acc) ->
    erl_pure([Other | Args], [construct(<<"calling a function value">>) | Acc]);
erl_pure({op, _, '!', L, R}, Acc) -> erl_pure([L, R], [construct(<<"!">>) | Acc]);
erl_pure({'receive', _, _} , Acc) -> [construct(<<"receive">>) | Acc];
erl_pure({'receive', _, _, _, _}, Acc) -> [construct(<<"receive">>) | Acc];
erl_pure(T, Acc) when is_tuple(T) -> erl_pure(tuple_to_list(T), Acc);
erl_pure([H | T], Acc) -> erl_pure(T, erl_pure(H, Acc));
erl_pure(_, Acc) -> Acc.

%% Results of evaluations are kept (for expanding them) until forget/1 or the keeper ends.
store(V) ->
    Ref = erlang:unique_integer([positive]),
    catch ets:insert(orbit_dbg_conds, {{stored, Ref}, V}),
    Ref.

stored(Ref) ->
    case catch ets:lookup(orbit_dbg_conds, {stored, Ref}) of
        [{_, V}] -> {ok, V};
        _ -> {error, expired}
    end.

forget(Refs) ->
    catch [ets:delete(orbit_dbg_conds, {stored, R}) || R <- Refs],
    ok.

take(Key) ->
    [{_, V}] = ets:take(orbit_dbg_conds, {set_value, Key}),
    V.

%% Gives the interpreter variable Var (e.g. '_amount@1') the value of Source, evaluated with the
%% frame's bindings. Only the top frame can be changed (the interpreter's rule).
set_variable(Meta, Var, Lang, Source, _Opts) ->
    try
        {ok, Bs} = bindings(Meta, nostack),
        case eval_parsed(parse_expr(Lang, Source), Bs) of
            {ok, V} ->
                Key = erlang:unique_integer([positive]),
                ets:insert(orbit_dbg_conds, {{set_value, Key}, V}),
                Cmd = lists:flatten(io_lib:format("~s = orbit_dbg:take(~p).", [quote_var(Var), Key])),
                Meta ! {user, {eval, {self(), orbit_dbg, Cmd, nostack}}},
                receive
                    {Meta, {eval_rsp, 'Parse error'}} -> {error, <<"the interpreter could not parse the assignment">>};
                    {Meta, {eval_rsp, 'Only possible to inspect variables'}} ->
                        {error, <<"the process is not stopped at a breakpoint">>};
                    {Meta, {eval_rsp, {'EXIT', R}}} -> {error, unicode:characters_to_binary(io_lib:format("~tp", [R]))};
                    {Meta, {eval_rsp, New}} -> {ok, shrink(New, limits()), kind(New), size_of(New), store(New)}
                after 5000 -> {error, <<"the interpreter did not answer">>}
                end;
            {error, Msg} -> {error, Msg}
        end
    catch throw:{parse_error, M} -> {error, M}
    end.

quote_var(Var) -> atom_to_list(Var).

%% The field order of Elixir structs, as `defstruct` declared them (Orbit prints structs in that order, as
%% `inspect` does): [{Module, [Field]}] for the modules that are structs here.
struct_fields(Mods) ->
    lists:filtermap(
      fun(M) ->
              case code:ensure_loaded(M) =:= {module, M} andalso erlang:function_exported(M, '__info__', 1) of
                  true ->
                      case catch M:'__info__'(struct) of
                          Fields when is_list(Fields) ->
                              {true, {M, [F || #{field := F} <- Fields]}};
                          _ -> false
                      end;
                  false -> false
              end
      end, Mods).

%% ---------------------------------------------------------------------------------------------
%% Processes: scope, pause, suspension

process_scope(Pid) ->
    case is_process_alive(Pid) of
        true -> {ok, shrink(process_scope_value(Pid), limits())};
        false -> {error, no_such_process}
    end.

process_scope_value(Pid) ->
    Info = case erlang:process_info(Pid, [registered_name, status, message_queue_len, messages, links, monitors,
                                         memory, current_function, initial_call, dictionary, reductions]) of
               undefined -> [];
               L -> L
           end,
    Dict = proplists:get_value(dictionary, Info, []),
    Initial = case proplists:get_value('$initial_call', Dict) of
                  undefined -> proplists:get_value(initial_call, Info);
                  IC -> IC
              end,
    #{node => node(),
      registered_name => case proplists:get_value(registered_name, Info) of [] -> nil; N -> N end,
      status => proplists:get_value(status, Info),
      message_queue_len => proplists:get_value(message_queue_len, Info),
      messages => proplists:get_value(messages, Info, []),
      links => proplists:get_value(links, Info, []),
      monitors => proplists:get_value(monitors, Info, []),
      memory => proplists:get_value(memory, Info),
      reductions => proplists:get_value(reductions, Info),
      current_function => proplists:get_value(current_function, Info),
      initial_call => Initial,
      ancestors => proplists:get_value('$ancestors', Dict, [])}.

%% Pauses an interpreted process at its next expression. Never sent to one at a break: there the
%% interpreter takes `stop` as a bad command and the process crashes.
pause(Pid) ->
    case catch snapshot_status(Pid) of
        break -> {error, already_stopped};
        exit -> {error, exited};
        undefined -> {error, not_interpreted};
        _ ->
            case gen_server:call(server(), {get_meta, Pid}, 5000) of
                {ok, Meta} -> Meta ! {user, {cmd, stop}}, ok;
                Other -> {error, Other}
            end
    end.

snapshot_status(Pid) ->
    case server() of
        undefined -> undefined;
        S ->
            case lists:keyfind(Pid, 1, gen_server:call(S, snapshot, 5000)) of
                {Pid, _, Status, _} -> Status;
                false -> undefined
            end
    end.

suspend(Pid) -> keeper_call({suspend, Pid}).
resume(Pid) -> keeper_call({resume, Pid}).
resume_all() -> keeper_call(resume_all).

current_stack(Pid) ->
    case erlang:process_info(Pid, current_stacktrace) of
        {current_stacktrace, St} ->
            {ok, [{M, F, arity(A), proplists:get_value(file, Loc), proplists:get_value(line, Loc)} || {M, F, A, Loc} <- St]};
        undefined -> {error, no_such_process}
    end.

%% ---------------------------------------------------------------------------------------------
%% Crash reports from any process on this node, forwarded to Orbit

%% A primary filter, first of all: Elixir 1.15+ installs a primary filter of its own (its translator) that
%% stops OTP's crash reports (domain [otp, sasl]) before any handler sees them unless `handle_sasl_reports`
%% is on. Orbit's filter only looks: it always answers `ignore`, so the node logs exactly as before.
install_crash_forwarder(Dest) ->
    _ = logger:remove_handler(orbit_crash_forwarder),
    Filters = maps:get(filters, logger:get_primary_config(), []),
    Mine = {orbit_crash_forwarder, {fun orbit_dbg:crash_filter/2, Dest}},
    logger:update_primary_config(#{filters => [Mine | lists:keydelete(orbit_crash_forwarder, 1, Filters)]}).

remove_crash_forwarder() ->
    _ = logger:remove_handler(orbit_crash_forwarder),
    _ = logger:remove_primary_filter(orbit_crash_forwarder),
    ok.

%% logger primary filter callback
crash_filter(#{level := Level} = Event, Dest) when Level =:= error; Level =:= critical; Level =:= alert; Level =:= emergency ->
    catch log(Event, #{config => #{dest => Dest}}),
    ignore;
crash_filter(_, _) -> ignore.

%% logger handler callback
log(#{msg := Msg, meta := Meta} = Event, #{config := #{dest := Dest}}) ->
    case crash_of(Msg) of
        {true, Who, Reason, Stack} ->
            Text = try
                       iolist_to_binary(logger_formatter:format(Event, #{single_line => false, template => [msg]}))
                   catch _:_ -> <<>>
                   end,
            Dest ! {orbit_crash, node(), maps:get(pid, Meta, Who), Text, frames(Stack), shrink(Reason, limits())};
        false -> ok
    end;
log(_, _) -> ok.

crash_of({report, #{label := {proc_lib, crash}, report := [Info | _]}}) when is_list(Info) ->
    case proplists:get_value(error_info, Info) of
        {_Class, Reason, Stack} -> {true, proplists:get_value(pid, Info), Reason, Stack};
        _ -> false
    end;
crash_of({report, #{label := {gen_server, terminate}, reason := Reason} = R}) ->
    Stack = case Reason of {_, St} when is_list(St) -> St; _ -> [] end,
    {true, maps:get(name, R, undefined), Reason, Stack};
crash_of({report, #{label := {error_logger, error_report}, report := R}}) ->
    case R of
        [{pid, P} | _] -> {true, P, R, []};
        _ -> false
    end;
crash_of(_) -> false.

frames(Stack) when is_list(Stack) ->
    [{M, F, arity(A), to_file(proplists:get_value(file, Loc)), proplists:get_value(line, Loc)}
     || {M, F, A, Loc} <- Stack, is_list(Loc)];
frames(_) -> [].

to_file(undefined) -> undefined;
to_file(F) -> unicode:characters_to_binary(F).

%% ---------------------------------------------------------------------------------------------
%% Clean-up: the same code whether Orbit disconnects (the engine calls cleanup/2 on every node) or
%% vanishes (each node's agent runs the registered cleanup/2 when Orbit's node goes down).
%%
%% On every node:
%% 1. Orbit's breakpoints leave the interpreter (so nothing stops again);
%% 2. processes of this node paused at a break are continued, suspended ones resumed;
%% 3. the modules run native again on this node (new calls stay native; a process inside interpreted
%%    code finishes its current call interpreted), after a bounded wait for the paused ones to leave;
%% 4. the condition table, crash forwarder and keeper go.
%% On the node that runs the interpreter server, then:
%% 5. once every node runs the modules natively and no process anywhere is inside interpreted code
%%    (bounded wait; forgetting a module sooner would kill such a process, as int:nn/1 does), the
%%    server forgets the modules and the processes that exited; a server that Orbit
%%    started, and that no other debugger is subscribed to, is stopped, which also ends the meta
%%    processes that the interpreter keeps for each process it ever ran.
%% Bounded to 8 s in all, below the agent's 10 s bound for one clean-up. Returns ok | {left, Notes}.
cleanup(Mods, Breaks) ->
    %% No module may become interpreted behind the clean-up's back.
    _ = keeper_call(stop_watchers),
    Server = server(),
    case Server of
        undefined -> ok;
        _ ->
            [gen_server:cast(Server, {delete_break, B}) || B <- Breaks],
            continue_paused(Server, 20)
    end,
    catch resume_all(),
    wait_native(Server, 40),
    %% Safe even for a process still inside interpreted code: it finishes its current call interpreted.
    uninterpret(Mods),
    remove_crash_forwarder(),
    stop_keeper(),
    ServerNotes = case Server of
                      S when is_pid(S), node(S) =:= node() -> server_cleanup(S, Mods, 30);
                      _ -> []
                  end,
    restore_code_path(),
    case ServerNotes of
        [] -> ok;
        Notes -> {left, Notes}
    end.

busy({_, _, Status, _}) -> Status =:= break orelse Status =:= running orelse Status =:= waiting.

%% Step 5, waiting up to N × 100 ms for the other nodes.
server_cleanup(Server, Mods, N) ->
    Snapshot = catch_list(catch gen_server:call(Server, snapshot, 5000)),
    Paused = [P || {P, _, break, _} <- Snapshot],
    [case catch gen_server:call(Server, {get_meta, P}, 5000) of
         {ok, Meta} -> Meta ! {user, {cmd, continue}};
         _ -> ok
     end || P <- Paused],
    Busy = [P || E = {P, _, _, _} <- Snapshot, busy(E)],
    Interpreted = [Node || Node <- nodes(), interpreted_on(Node, Mods)],
    case {Busy, Interpreted} of
        {[], []} ->
            [gen_server:cast(Server, {delete, M}) || M <- Mods],
            gen_server:cast(Server, clear),
            stop_own_server(Server),
            [];
        _ when N =< 0 ->
            [{still_interpreted_on, Interpreted} || Interpreted =/= []] ++ [{inside_interpreted_code, Busy} || Busy =/= []];
        _ ->
            timer:sleep(100),
            server_cleanup(Server, Mods, N - 1)
    end.

interpreted_on(Node, Mods) ->
    try erpc:call(Node, orbit_dbg, interpreted_here, [Mods], 2000) of
        [] -> false;
        _ -> true
    catch _:_ -> false
    end.

%% Stops the server if Orbit started it (ensure_server/0 noted it) and no other debugger is subscribed.
stop_own_server(Server) ->
    case persistent_term:get(orbit_dbg_started_server, undefined) of
        Server ->
            Subscribers = try element(7, sys:get_state(Server, 5000)) catch _:_ -> [unknown] end,
            case [S || S <- Subscribers, subscriber_alive(S)] of
                [] ->
                    Ref = erlang:monitor(process, Server),
                    gen_server:cast(Server, stop),
                    receive {'DOWN', Ref, _, _, _} -> ok after 2000 -> erlang:demonitor(Ref, [flush]) end,
                    persistent_term:erase(orbit_dbg_started_server),
                    ok;
                _ -> ok
            end;
        _ -> ok
    end.

%% Subscribers are not linked to the server (Orbit links its own): dead ones stay in its list.
subscriber_alive(S) when is_pid(S), node(S) =:= node() -> is_process_alive(S);
subscriber_alive(S) when is_pid(S) -> lists:member(node(S), nodes(connected));
subscriber_alive(_) -> true.

continue_paused(_Server, 0) -> ok;
continue_paused(Server, N) ->
    Paused = [P || {P, _, break, _} <- snapshot_here()],
    [case catch gen_server:call(Server, {get_meta, P}, 5000) of
         {ok, Meta} -> Meta ! {user, {cmd, continue}};
         _ -> ok
     end || P <- Paused],
    case Paused of
        [] -> ok;
        _ -> timer:sleep(50), continue_paused(Server, N - 1)
    end.

%% Waits (up to N × 100 ms) until no process of this node is stopped or running inside interpreted code.
wait_native(undefined, _) -> ok;
wait_native(_Server, 0) -> ok;
wait_native(Server, N) ->
    Busy = [P || {P, _, S, _} <- snapshot_here(), S =:= break orelse S =:= running],
    case Busy of
        [] -> ok;
        _ -> continue_paused(Server, 1), timer:sleep(100), wait_native(Server, N - 1)
    end.

snapshot_here() ->
    case server() of
        undefined -> [];
        S -> [E || {P, _, _, _} = E <- catch_list(catch gen_server:call(S, snapshot, 5000)), node(P) =:= node()]
    end.

catch_list(L) when is_list(L) -> L;
catch_list(_) -> [].
