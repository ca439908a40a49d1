%% Reading a paused process through its meta process, from this node: its stack, who waits for its
%% answer (and holding those callers where their node's OTP stops a suspended process's clock).
-module(orbit_dbg_frames).
%% `catch Expr` is deprecated from OTP 29 on; the agent still runs on OTP 25, where it is the idiom.
-compile(nowarn_deprecated_catch).

-export([caller/1, erpc_parent/1, erpc_parents/2, hold/1, meta_get/3, stack/1, waiting_callers/1]).

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
            Lines = orbit_dbg_step:frame_lines(Meta, [Le || {Le, _} <- Trace]),
            {ok, [{Le, M, F, orbit_dbg_step:arity(A), maps:get(Le, Lines, undefined)} || {Le, {M, F, A}} <- Trace]};
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

%% Who waits for Pid's answer through :erpc/:rpc, up to N levels up (also for orbit_native's stops).
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
            case orbit_dbg:suspend(Pid) of
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
