%% Native breakpoints (OTP 28+, emulator flag +D): Orbit's debugger process on a node, registered with
%% erl_debugger, living exactly as long as Orbit's connection.
%%
%% A module gets breakpoints here after it is recompiled on the node from its own debug info with
%% beam_debug_info and loaded the way reload loads code: compiled first (nothing changes until then),
%% loaded over a purged old slot, md5-checked, the original loaded back on any failure. A process that
%% reaches a breakpoint line is paused by the VM; this server suspends it (erl_debugger reads the stack of
%% a suspended process only), decides whether the hit stops (condition, hit count, log message: the
%% interpreter path's own checks, orbit_dbg_pass:native_check/3), and either lets it go at once or tells
%% Orbit. Stepping is temporary breakpoints on the other lines of the function and of its caller.
%%
%% A paused process stays paused until its resume fun runs, even if this server dies, and a breakpoint
%% hit with no debugger registered pauses for good: so the server restores the node itself (breakpoints
%% cleared, paused processes resumed, each module's original binary back, unregistered) when Orbit asks,
%% when Orbit's node goes down, and through the agent session's clean-up (stop/0).
%%
%% erl_debugger and code:get_debug_info/1 exist from OTP 28 on: they are called through a variable
%% module so that this file compiles and loads on OTP 25.
-module(orbit_native).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([available/0, start/2, stop/0, prepare/1, prepare/2, set_break/4, clear_break/3, frames/1, eval/3,
         callers/1, scope/2, call_targets/1, cross_target/1, pause/1,
         resume/2, server_init/3, server_loop/1]).

%% The largest value (in words) read out of a frame.
max_size() -> 1000000.

dbg() -> erl_debugger.

%% true | {false, Why}: whether native breakpoints can be used on this node.
available() ->
    case code:ensure_loaded(erl_debugger) of
        {module, _} ->
            D = dbg(),
            case D:supported() of
                true ->
                    case D:whereis() of
                        undefined -> true;
                        Pid ->
                            case whereis(orbit_native) of
                                Pid -> true;
                                _ -> {false, {held, Pid}}
                            end
                    end;
                false -> {false, no_plus_d}
            end;
        _ -> {false, otp_too_old}
    end.

%% Starts the server for the Orbit node OrbitNode; hits go to Events. {ok, Pid} | {error, Why}.
start(OrbitNode, Events) ->
    case whereis(orbit_native) of
        Pid when is_pid(Pid) -> {error, {held_by_orbit, Pid}};
        undefined ->
            case available() of
                true ->
                    Me = self(),
                    Pid = proc_lib:spawn(orbit_native, server_init, [OrbitNode, Events, Me]),
                    receive
                        {Pid, Reply} -> Reply
                    after 5000 -> {error, timeout}
                    end;
                {false, Why} -> {error, Why}
            end
    end.

stop() -> call(stop, 60000).
prepare(M) -> call({prepare, M, node}, 60000).
%% With the project's own build of M (Beam), for a node whose beams carry no debug info (a release built
%% with strip_beams): taken only when it is exactly the code the node runs (same md5).
prepare(M, Beam) -> call({prepare, M, {project, Beam}}, 60000).
set_break(M, Line, Slot, Id) -> call({set_break, M, Line, Slot, Id}, 30000).
clear_break(M, Line, Id) -> call({clear_break, M, Line, Id}, 30000).
resume(Pid, How) -> call({resume, Pid, How}, 30000).
%% The functions the paused process's line calls ([{M, F, A}], as written: remote and local calls), for
%% a step in: Orbit readies those of the project's modules first, then resumes it with step_in.
call_targets(Pid) -> call({call_targets, Pid}, 30000).
%% Where a call on the paused process's line lands in another process (orbit_dbg_step:call_target/3's
%% answer, with the bindings read from its frame): run by Orbit in an rpc process, off the server.
cross_target(Pid) ->
    case user_frames(Pid, frames_or_none(Pid)) of
        {[{_, #{function := {M, _, _}, line := Line}, _} = Top | _], X} when is_integer(Line) ->
            orbit_dbg_step:target_at(M, Line, fun() -> bindings(Top, X) end);
        _ -> none
    end.

%% Stops a process that runs a step (the editor's pause): suspended where it is, reported as a stop.
pause(Pid) -> call({pause, Pid}, 30000).

call(Request, Timeout) ->
    case whereis(orbit_native) of
        undefined -> {error, no_session};
        Server ->
            Ref = erlang:monitor(process, Server),
            Server ! {orbit_native, self(), Ref, Request},
            receive
                {Ref, Reply} -> erlang:demonitor(Ref, [flush]), Reply;
                {'DOWN', Ref, process, _, Why} -> {error, {no_session, Why}}
            after Timeout -> erlang:demonitor(Ref, [flush]), {error, timeout}
            end
    end.

%% ---------------------------------------------------------------------------------------------
%% The server

server_init(OrbitNode, Events, From) ->
    D = dbg(),
    case catch register(orbit_native, self()) of
        true ->
            case D:register(self()) of
                {ok, Session} ->
                    %% Where each paused process stopped (see user_frames/2); the server's, gone with it.
                    orbit_native_at = ets:new(orbit_native_at, [named_table, public, set]),
                    %% {Module, OriginalMd5, OurMd5} of the modules recompiled for breakpoints: the same
                    %% code, so version checks (orbit_reload:md5/1) count them as the original.
                    orbit_native_mods = ets:new(orbit_native_mods, [named_table, public, set]),
                    erlang:monitor_node(OrbitNode, true),
                    From ! {self(), {ok, self()}},
                    orbit_native:server_loop(#{orbit => OrbitNode, events => Events, session => Session,
                                               mods => #{}, breaks => #{}, paused => #{}, steps => #{}});
                {error, Why} ->
                    From ! {self(), {error, {held, Why}}}
            end;
        _ -> From ! {self(), {error, {held_by_orbit, whereis(orbit_native)}}}
    end.

server_loop(#{orbit := OrbitNode, session := Session} = S) ->
    receive
        {debugger_event, Session, {breakpoint, Pid, MFA, Line, Resume}} ->
            %% Whatever goes wrong deciding, the process must not stay paused.
            S1 = try hit(Pid, MFA, Line, Resume, S)
                 catch _:_ -> go(Pid, #{resume => Resume}), S
                 end,
            orbit_native:server_loop(S1);
        {nodedown, OrbitNode} ->
            restore(S);
        {'DOWN', _, process, Pid, _} ->
            orbit_native:server_loop(gone(Pid, S));
        %% A request whose answer no one waits for (Orbit's continue: the stop that follows is the answer).
        {orbit_native, cast, Request} ->
            S1 = try element(2, request(Request, S))
                 catch _:_ -> S
                 end,
            orbit_native:server_loop(S1);
        {orbit_native, From, Ref, stop} ->
            restore(S),
            From ! {Ref, ok};
        {orbit_native, From, Ref, Request} ->
            {Reply, S1} = try request(Request, S)
                          catch C:R -> {{error, {C, R}}, S}
                          end,
            From ! {Ref, Reply},
            orbit_native:server_loop(S1);
        _ -> orbit_native:server_loop(S)
    after 1000 ->
        orbit_native:server_loop(S)
    end.

request({prepare, M, From}, #{mods := Mods} = S) ->
    case maps:find(M, Mods) of
        {ok, #{lines := Lines}} -> {{ok, Lines}, S};
        error ->
            case instrument(M, From) of
                {ok, Info} ->
                    ets:insert(orbit_native_mods, {M, maps:get(md5, Info), maps:get(ours, Info)}),
                    {{ok, maps:get(lines, Info)}, S#{mods := Mods#{M => Info}}};
                {error, _} = E -> {E, S}
            end
    end;
request({set_break, M, Line, Slot, Id}, #{breaks := Bs} = S) ->
    case arm(M, Line, S) of
        ok ->
            Old = maps:get({M, Line}, Bs, []),
            {ok, S#{breaks := Bs#{{M, Line} => [{Slot, Id} | lists:keydelete(Id, 2, Old)]}}};
        E -> {E, S}
    end;
request({clear_break, M, Line, Id}, #{breaks := Bs} = S) ->
    Rest = lists:keydelete(Id, 2, maps:get({M, Line}, Bs, [])),
    S1 = case Rest of
             [] -> S#{breaks := maps:remove({M, Line}, Bs)};
             _ -> S#{breaks := Bs#{{M, Line} := Rest}}
         end,
    disarm_unused([{M, Line}], S1),
    {ok, S1};
request({resume, Pid, How}, #{paused := Paused} = S) ->
    case maps:find(Pid, Paused) of
        error -> {{error, not_paused}, S};
        {ok, P} ->
            S1 = drop_step(Pid, S#{paused := maps:remove(Pid, Paused)}),
            S2 = case How of
                     continue -> S1;
                     _ -> plan_step(Pid, How, P, S1)
                 end,
            go(Pid, P),
            %% running: no line can take the step (the function returns into code without breakpoint
            %% lines), so the process simply runs on.
            {case maps:is_key(Pid, maps:get(steps, S2)) of true -> ok; false -> running end, watch(Pid, S2)}
    end;
request({call_targets, Pid}, #{paused := Paused, mods := Mods} = S) ->
    case {maps:is_key(Pid, Paused), user_frames(Pid, frames_or_none(Pid))} of
        {true, {[{_, #{function := {M, _, _}, line := Line}, _} | _], _}} ->
            Calls = maps:get(calls, maps:get(M, Mods, #{}), #{}),
            {{ok, maps:get(Line, Calls, [])}, S};
        _ -> {{error, not_paused}, S}
    end;
request({pause, Pid}, #{paused := Paused, events := Events} = S) ->
    case maps:is_key(Pid, Paused) of
        true -> {{error, already_stopped}, S};
        false ->
            case (catch erlang:suspend_process(Pid)) =:= true of
                false -> {{error, no_such_process}, S};
                true ->
                    S1 = drop_step(Pid, S),
                    %% Where it stands: the top frame with a line of the code readied here, else the
                    %% function it runs (no line: not code Orbit recompiled).
                    {Frames, _} = user_frames(Pid, frames_or_none(Pid)),
                    {{M, F, A}, Line} =
                        case [{Mfa, L} || {_, #{function := Mfa, line := L}, _} <- Frames, is_integer(L)] of
                            [Top | _] -> Top;
                            [] ->
                                case erlang:process_info(Pid, current_function) of
                                    {current_function, Mfa} -> {Mfa, 0};
                                    _ -> {{erlang, apply, 2}, 0}
                                end
                        end,
                    Events ! {orbit_native_stop, node(), Pid, M, F, A, Line, pause, []},
                    P = #{resume => fun() -> ok end, suspended => true},
                    {ok, watch(Pid, S1#{paused := maps:put(Pid, P, maps:get(paused, S1))})}
            end
    end;
request(Other, S) -> {{error, {unknown_request, Other}}, S}.

arm(M, Line, _S) ->
    D = dbg(),
    case D:breakpoint(M, Line, true) of
        ok -> ok;
        {error, Why} -> {error, Why}
    end.

%% Clears the lines that no breakpoint and no step needs any more.
disarm_unused(Points, #{breaks := Bs, steps := Steps}) ->
    D = dbg(),
    Stepping = lists:append([Ls || #{lines := Ls} <- maps:values(Steps)]),
    [catch D:breakpoint(M, L, false) || {M, L} <- Points, not maps:is_key({M, L}, Bs),
                                        not lists:member({M, L}, Stepping)],
    ok.

go(Pid, #{resume := Resume}) ->
    catch ets:delete(orbit_native_at, Pid),
    catch Resume(),
    catch erlang:resume_process(Pid),
    ok.

%% ---------------------------------------------------------------------------------------------
%% Hits

hit(Pid, {M, F, A}, Line, Resume, #{events := Events, breaks := Bs, steps := Steps} = S0) ->
    Suspended = (catch erlang:suspend_process(Pid)) =:= true,
    P = #{resume => Resume, suspended => Suspended},
    ets:insert(orbit_native_at, {Pid, {M, F, A}, Line}),
    %% The frames (their values copied out of the process) only where something needs them: a step, or a
    %% breakpoint with a condition or a log message. A plain breakpoint stops without reading them.
    Checks = maps:get({M, Line}, Bs, []),
    {Frames, X} = case maps:is_key(Pid, Steps) orelse lists:any(fun({Slot, _}) -> needs_bindings(Slot) end, Checks) of
                      true -> user_frames(Pid, frames_or_none(Pid));
                      false -> {[], []}
                  end,
    {Stepped, S} = case maps:find(Pid, Steps) of
                       {ok, Step} -> step_hit(Pid, {M, Line}, Frames, Step, S0);
                       error -> {false, S0}
                   end,
    Ids = case maps:find({M, Line}, Bs) of
              {ok, Slots} when not Stepped ->
                  Vars = case Frames of [Top | _] -> bindings(Top, X); [] -> [] end,
                  [Id || {Slot, Id} <- lists:reverse(Slots),
                         (catch orbit_dbg_pass:native_check(Slot, Pid, Vars)) =:= true];
              _ -> []
          end,
    case Stepped orelse Ids =/= [] of
        true ->
            S1 = drop_step(Pid, S),
            Reason = case Stepped of true -> step; false -> breakpoint end,
            Events ! {orbit_native_stop, node(), Pid, M, F, A, Line, Reason, Ids},
            watch(Pid, S1#{paused := maps:put(Pid, P, maps:get(paused, S1))});
        false ->
            go(Pid, P),
            watch(Pid, S)
    end.

%% Orbit shows a process as a thread while it is paused here or takes a step: it is monitored as long,
%% so that one that dies meanwhile (killed, shut down by its supervisor) leaves Orbit's threads.
watch(Pid, #{paused := Paused, steps := Steps} = S) ->
    Watched = maps:get(watched, S, #{}),
    Needed = maps:is_key(Pid, Paused) orelse maps:is_key(Pid, Steps),
    case {Needed, maps:find(Pid, Watched)} of
        {true, error} -> S#{watched => Watched#{Pid => erlang:monitor(process, Pid)}};
        {false, {ok, Ref}} ->
            erlang:demonitor(Ref, [flush]),
            S#{watched => maps:remove(Pid, Watched)};
        _ -> S
    end.

%% A watched process died: nothing of it is kept, and Orbit is told it left.
gone(Pid, #{paused := Paused, events := Events} = S) ->
    Watched = maps:get(watched, S, #{}),
    case maps:is_key(Pid, Watched) of
        false -> S;
        true ->
            catch ets:delete(orbit_native_at, Pid),
            Events ! {orbit_native_left, node(), Pid},
            drop_step(Pid, S#{paused := maps:remove(Pid, Paused), watched => maps:remove(Pid, Watched)})
    end.

%% Whether a breakpoint's check reads variables: a condition or a log message (a hit count, a step trap
%% do not).
needs_bindings(Slot) ->
    case catch ets:lookup(orbit_dbg_conds, Slot) of
        [{Slot, #{condition := undefined, log := undefined}}] -> false;
        _ -> true
    end.

%% A stepping process at a line: {StopsHere, State}. The step belongs to one activation, told by the frames
%% below the one it started in (their functions, return addresses and slots): a hit under those frames
%% (in the function or its caller) is the step's; a deeper one (recursion) is not, and keeps the step; any
%% other means the activation returned (a GenServer back in its loop, serving the next call): the step
%% is over, its lines disarmed, and the hit is an ordinary one.
step_hit(Pid, Point, Frames, #{lines := Ls, anchor := Anchor} = Step, S) ->
    Below = case Frames of [_ | B] -> strip(B); [] -> [] end,
    Into = lists:member(Point, maps:get(into, Step, [])),
    case Into orelse length(Below) > length(Anchor) of
        true when Into -> {true, S};
        true -> {false, S};
        false ->
            case lists:suffix(Below, Anchor) of
                true -> {lists:member(Point, Ls), S};
                false ->
                    maps:get(events, S) ! {orbit_native_left, node(), Pid},
                    {false, watch(Pid, drop_step(Pid, S))}
            end
    end.

strip(Frames) -> [{Fun, Info} || {_, Fun, Info} <- Frames].

%% Next: the other lines of this function, and the lines of its caller (when it has breakpoint lines).
%% Step out: the caller's lines. Step in: a next, and the lines of each function the line calls that is
%% in a module readied here (the first of them reached, at any depth, ends the step).
plan_step(Pid, How, _P, S) ->
    case user_frames(Pid, frames_or_none(Pid)) of
        {[{_, #{function := {M, F, A}, line := Line}, _} | Callers], _} ->
            Here = case How of
                       step_out -> [];
                       _ -> [{M, L} || L <- function_lines(M, F, A), L =/= Line]
                   end,
            Caller = case Callers of
                         [{_, #{function := {CM, CF, CA}, line := CL}, _} | _] ->
                             [{CM, L} || L <- function_lines(CM, CF, CA), L =/= CL];
                         _ -> []
                     end,
            Into = case How of
                       step_in ->
                           Mods = maps:get(mods, S),
                           Targets = maps:get(Line, maps:get(calls, maps:get(M, Mods, #{}), #{}), []),
                           lists:usort([{TM, L} || {TM, TF, TA} <- Targets, maps:is_key(TM, Mods),
                                                   L <- function_lines(TM, TF, TA)]);
                       _ -> []
                   end,
            D = dbg(),
            case [P || {M1, L1} = P <- lists:usort(Here ++ Caller ++ Into), (catch D:breakpoint(M1, L1, true)) =:= ok] of
                [] -> S;
                Armed ->
                    Step = #{lines => Armed, anchor => strip(Callers), into => Into},
                    S#{steps := maps:put(Pid, Step, maps:get(steps, S))}
            end;
        _ -> S
    end.

drop_step(Pid, #{steps := Steps} = S) ->
    case maps:find(Pid, Steps) of
        {ok, #{lines := Ls}} ->
            S1 = S#{steps := maps:remove(Pid, Steps)},
            disarm_unused(Ls, S1),
            S1;
        error -> S
    end.

function_lines(M, F, A) ->
    D = dbg(),
    case catch D:breakpoints(M, F, A) of
        {ok, Lines} when is_map(Lines) -> lists:sort(maps:keys(Lines));
        _ -> []
    end.

%% ---------------------------------------------------------------------------------------------
%% Frames and bindings (read from the process; called by Orbit in an rpc process)

frames_or_none(Pid) ->
    D = dbg(),
    case catch D:stack_frames(Pid, max_size()) of
        Frames when is_list(Frames) -> Frames;
        _ -> []
    end.

%% The user's frames (after the VM's breakpoint frames), and the x registers the breakpoint saved. A
%% function that keeps no stack frame where it stopped (one that calls nothing but BIFs, or only in tail
%% position, e.g. `def f(x), do: x + 1`) is not in the stack: its frame is made from where the process
%% stopped (numbered -1; its variables are all in the x registers).
user_frames(Pid, Frames) ->
    {Real, X} = user_frames(Frames, Frames, []),
    case catch ets:lookup(orbit_native_at, Pid) of
        [{Pid, Mfa, Line}] ->
            case Real of
                [{_, #{function := Mfa}, _} | _] -> {Real, X};
                _ -> {[{-1, #{function => Mfa, line => Line}, #{slots => []}} | Real], X}
            end;
        _ -> {Real, X}
    end.

user_frames([{_, '<breakpoint>', #{slots := X}} | Rest], _All, _) -> {real(Rest), X};
user_frames([_ | Rest], All, Acc) -> user_frames(Rest, All, Acc);
user_frames([], All, _) -> {real(All), []}.

real(Frames) -> [F || {_, #{function := _}, _} = F <- Frames].

%% [{Var, Value}] of a frame, raw names (`_x@1` in Elixir code), from the module's debug info at the line.
bindings({_, #{function := {M, _, _}, line := Line}, #{slots := Y}}, X) when is_integer(Line) ->
    C = code,
    Info = case catch C:get_debug_info(M) of
               L when is_list(L) -> L;
               _ -> []
           end,
    case lists:keyfind(Line, 1, Info) of
        {Line, #{vars := Vars}} ->
            lists:append([value_of(Name, Where, X, Y) || {Name, Where} <- Vars]);
        _ -> []
    end;
bindings(_, _) -> [].

value_of(Name, {x, N}, X, _Y) -> slot(Name, N, X);
value_of(Name, {y, N}, _X, Y) -> slot(Name, N, Y);
value_of(Name, {value, V}, _X, _Y) -> [{name(Name), V}];
value_of(_, _, _, _) -> [].

slot(Name, N, Slots) when N < length(Slots) ->
    case lists:nth(N + 1, Slots) of
        {value, V} -> [{name(Name), V}];
        {too_large, Size} -> [{name(Name), {orbit_too_large, Size}}];
        _ -> []
    end;
slot(_, _, _) -> [].

name(B) when is_binary(B) -> binary_to_atom(B, utf8);
name(A) when is_atom(A) -> A;
name(L) when is_list(L) -> list_to_atom(L).

%% {ok, [{FrameNo, M, F, A, Line, Vars}]}, the top frame first; Vars = [{Name, Text}] named as the
%% frame's language names them (Elixir: `x`, the newest `_x@N` of each name; temporaries left out).
frames(Pid) ->
    case frames_or_none(Pid) of
        [] -> {error, not_paused};
        Raw ->
            {Frames, X} = user_frames(Pid, Raw),
            {ok, frame_list(Frames, X)}
    end.

frame_list([], _) -> [];
frame_list([{No, #{function := {M, F, A}, line := Line}, _} = Fr | Rest], X) ->
    Lang = lang(M),
    Vars = [{N, orbit_dbg_eval:inspect(Lang, V)} || {N, V} <- shown(Lang, bindings(Fr, X))],
    L = case Line of undefined -> 0; _ -> Line end,
    [{No, M, F, A, L, Vars} | frame_list(Rest, [])].

lang(M) ->
    case atom_to_list(M) of
        "Elixir." ++ _ -> elixir;
        _ -> erlang
    end.

shown(erlang, Bs) -> [{atom_to_binary(N, utf8), V} || {N, V} <- Bs];
shown(elixir, Bs) ->
    Best = lists:foldl(
             fun({Var, V}, Acc) ->
                     case orbit_dbg_eval:elixir_name(Var) of
                         {Name, N} ->
                             case maps:find(Name, Acc) of
                                 {ok, {K, _}} when K >= N -> Acc;
                                 _ -> Acc#{Name => {N, V}}
                             end;
                         none -> Acc
                     end
             end, #{}, Bs),
    lists:sort([{atom_to_binary(N, utf8), V} || {N, {_, V}} <- maps:to_list(Best), N =/= '']).

%% The variables of frame FrameNo of Pid as orbit_dbg:scope/3 gives an interpreted frame's: {ok, Lang,
%% [{Name, Shrunk, Kind, Size, Stored}]}, each value kept on the node (orbit_dbg_pure:store/1) so that
%% the editor can expand it.
scope(Pid, FrameNo) ->
    {Frames, X} = user_frames(Pid, frames_or_none(Pid)),
    case [Fr || {No, _, _} = Fr <- Frames, No =:= FrameNo] of
        [{_, #{function := {M, _, _}}, _} = Fr | _] ->
            Xs = case Frames of [Fr | _] -> X; _ -> [] end,
            Lang = lang(M),
            Limits = orbit_dbg_step:limits(),
            {ok, Lang, [{Name, orbit_dbg_step:shrink(V, Limits), orbit_dbg_step:kind(V), orbit_dbg_step:size_of(V),
                         orbit_dbg_pure:store(V)} || {Name, V} <- shown(Lang, bindings(Fr, Xs))]};
        _ -> {error, <<"no such frame (the process may have moved on)">>}
    end.

%% The processes waiting for paused Pid's answer, as orbit_dbg:waiting_callers/1 gives them for an
%% interpreted one: [{CallerPid, gen_server_call | erpc}]. A GenServer keeps the caller's `From`
%% ({Pid, Tag}) in a slot of its own frames until it replies: the first such value there is the caller.
callers(Pid) ->
    {Frames, _} = user_frames(Pid, frames_or_none(Pid)),
    Slots = lists:append([Y || {_, #{function := {gen_server, _, _}}, #{slots := Y}} <- Frames]),
    case [C || {value, {C, Tag}} <- Slots, is_pid(C), is_reference(Tag) orelse alias_tag(Tag)] of
        [Caller | _] -> [{Caller, gen_server_call} | orbit_dbg_frames:erpc_parents(Caller, 3)];
        [] -> []
    end.

alias_tag([alias | R]) -> is_reference(R);
alias_tag(_) -> false.

%% Evaluates Src in frame FrameNo of Pid with the bindings read from it: {ok, Text} | {error, Message}.
eval(Pid, FrameNo, Src) ->
    {Frames, X} = user_frames(Pid, frames_or_none(Pid)),
    case [Fr || {No, _, _} = Fr <- Frames, No =:= FrameNo orelse FrameNo =:= top] of
        [{_, #{function := {M, _, _}}, _} = Fr | _] ->
            Xs = case Frames of [Fr | _] -> X; _ -> [] end,
            Lang = lang(M),
            try orbit_dbg_eval:parse_expr(Lang, Src) of
                Parsed ->
                    case orbit_dbg_eval:eval_parsed(Parsed, bindings(Fr, Xs)) of
                        {ok, V} -> {ok, orbit_dbg_eval:inspect(Lang, V)};
                        {error, Msg} -> {error, Msg}
                    end
            catch throw:{parse_error, Msg} -> {error, Msg}
            end;
        _ -> {error, <<"no such frame (the process may have moved on)">>}
    end.

%% ---------------------------------------------------------------------------------------------
%% Instrumenting a module, and putting the original back

instrument(M, From) ->
    case code:ensure_loaded(M) of
        {error, _} -> {error, not_loaded};
        {module, M} ->
            Md5 = M:module_info(md5),
            OnDisk = case code:get_object_code(M) of
                         {M, Orig, File} ->
                             case beam_lib:md5(Orig) of
                                 {ok, {M, Md5}} -> {ok, Orig, File};
                                 _ -> {error, changed_on_disk}
                             end;
                         error -> {error, no_beam}
                     end,
            case {OnDisk, From} of
                {{ok, Orig1, File1}, node} -> recompile(M, Orig1, Orig1, File1, Md5);
                {{error, _} = E, node} -> E;
                {_, {project, Beam}} ->
                    %% The original to restore: the node's own binary, else the project's (same code).
                    {Orig2, File2} = case OnDisk of
                                         {ok, O, F} -> {O, F};
                                         _ -> {Beam, atom_to_list(M) ++ ".beam"}
                                     end,
                    case beam_lib:md5(Beam) of
                        {ok, {M, Md5}} -> recompile(M, Beam, Orig2, File2, Md5);
                        _ -> {error, other_build}
                    end
            end
    end.

%% Source: the binary whose debug info is compiled; Orig: the binary to put back.
recompile(M, Source, Orig, File, Md5) ->
    case beam_lib:chunks(Source, [debug_info]) of
        {ok, {M, [{debug_info, {debug_info_v1, Backend, Data}}]}} ->
            case catch Backend:debug_info(erlang_v1, M, Data, []) of
                {ok, Forms} ->
                    case catch compile:forms(Forms, [beam_debug_info, binary, return_errors]) of
                        {ok, M, Bin} ->
                            case swap(M, Orig, File, Md5, Bin) of
                                {ok, Info} -> {ok, Info#{calls => call_sites(M, Forms)}};
                                E -> E
                            end;
                        Other -> {error, {compile, Other}}
                    end;
                {error, _} -> {error, no_debug_info};
                Other -> {error, {debug_info, Other}}
            end;
        _ -> {error, no_debug_info}
    end.

%% #{Line => [{M, F, A}]}: the calls written on each line of the module's functions (remote calls with
%% literal module and function, and local calls), for step in.
call_sites(M, Forms) ->
    Calls = lists:append([calls_in(M, Clauses) || {function, _, _, _, Clauses} <- Forms]),
    lists:foldl(fun({Line, MFA}, Acc) ->
                        maps:update_with(Line, fun(L) -> lists:usort([MFA | L]) end, [MFA], Acc)
                end, #{}, Calls).

calls_in(M, {call, Anno, {remote, _, {atom, _, CM}, {atom, _, F}}, Args}) ->
    [{orbit_dbg_code:line(Anno), {CM, F, length(Args)}} | calls_in(M, Args)];
calls_in(M, {call, Anno, {atom, _, F}, Args}) ->
    [{orbit_dbg_code:line(Anno), {M, F, length(Args)}} | calls_in(M, Args)];
calls_in(M, T) when is_tuple(T) -> calls_in(M, tuple_to_list(T));
calls_in(M, [H | T]) -> calls_in(M, H) ++ calls_in(M, T);
calls_in(_, _) -> [].

swap(M, Orig, File, Md5, Bin) ->
    {ok, {M, NewMd5}} = beam_lib:md5(Bin),
    case load(M, File, Bin, NewMd5) of
        ok ->
            D = dbg(),
            case catch D:breakpoints(M) of
                {ok, ByFun} ->
                    Lines = [{F, A, lists:sort(maps:keys(Ls))} || {{F, A}, Ls} <- maps:to_list(ByFun),
                                                                 map_size(Ls) > 0],
                    {ok, #{orig => Orig, file => File, md5 => Md5, lines => Lines, ours => NewMd5}};
                Other ->
                    _ = load(M, File, Orig, Md5),
                    {error, {no_breakpoints, Other}}
            end;
        {error, _} = E ->
            _ = load(M, File, Orig, Md5),
            E
    end.

%% Loads Bin over a purged old slot; ok once the node runs exactly it.
load(M, File, Bin, Md5) ->
    case code:soft_purge(M) of
        false -> {error, old_code_in_use};
        true ->
            case code:load_binary(M, File, Bin) of
                {module, M} ->
                    case M:module_info(md5) of
                        Md5 -> ok;
                        _ -> {error, md5_mismatch}
                    end;
                {error, Why} -> {error, Why}
            end
    end.

%% Everything back as it was: breakpoints, paused processes, original code, the registration.
restore(#{session := Session, mods := Mods, breaks := Bs, paused := Paused, steps := Steps}) ->
    D = dbg(),
    Points = maps:keys(Bs) ++ lists:append([Ls || #{lines := Ls} <- maps:values(Steps)]),
    [catch D:breakpoint(M, L, false) || {M, L} <- Points],
    [go(Pid, P) || {Pid, P} <- maps:to_list(Paused)],
    flush_hits(Session),
    %% Only over Orbit's own build: code loaded since (a reload) stays.
    [catch load(M, File, Orig, Md5) || {M, #{orig := Orig, file := File, md5 := Md5, ours := Ours}} <- maps:to_list(Mods),
                                       (catch M:module_info(md5)) =:= Ours],
    catch D:unregister(self(), Session),
    catch unregister(orbit_native),
    ok.

%% Hits reported before the breakpoints went, not handled yet: their processes go on.
flush_hits(Session) ->
    receive
        {debugger_event, Session, {breakpoint, _Pid, _MFA, _Line, Resume}} ->
            catch Resume(),
            flush_hits(Session)
    after 50 -> ok
    end.
